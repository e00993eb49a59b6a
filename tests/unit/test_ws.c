/* WebSocket framing (ws/frame.c) and permessage-deflate (ws/deflate.c):
 * frame heads as RFC 6455 5.2 draws them, the server-side rules, UTF-8
 * against known good and bad sequences, close codes, the extension
 * negotiation, and bounded inflating. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tests/unit/check.h"
#include "ws/deflate.h"
#include "ws/frame.h"

static int parse(const char *bytes, size_t n, bool rsv1_ok, struct pt_ws_head *h,
                 const char **why)
{
    *why = NULL;
    return pt_ws_head_parse((const uint8_t *)bytes, n, rsv1_ok, h, why);
}

static void test_heads(void)
{
    struct pt_ws_head h;
    const char *why;
    /* A masked "Hello" from RFC 6455 5.7. */
    const char hello[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    CHECK_INT(parse(hello, 11, false, &h, &why), 6);
    CHECK(h.fin && h.opcode == PT_WS_TEXT && h.masked && h.len == 5);
    uint8_t payload[5];
    memcpy(payload, hello + 6, 5);
    pt_ws_unmask(payload, 5, h.mask, 0);
    CHECK(memcmp(payload, "Hello", 5) == 0);
    /* Unmasking in two pieces keeps the phase. */
    memcpy(payload, hello + 6, 5);
    pt_ws_unmask(payload, 2, h.mask, 0);
    pt_ws_unmask(payload + 2, 3, h.mask, 2);
    CHECK(memcmp(payload, "Hello", 5) == 0);
    /* Every prefix asks for more. */
    for (size_t n = 0; n < 6; n++)
        CHECK_INT(parse(hello, n, false, &h, &why), 0);
    /* 16- and 64-bit lengths. */
    CHECK_INT(parse("\x82\xfe\x01\x00" "abcd", 8, false, &h, &why), 8);
    CHECK(h.len == 256);
    CHECK_INT(parse("\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00" "abcd", 14, false, &h, &why), 14);
    CHECK(h.len == 65536);
    /* Not in the shortest form, or the top bit set. */
    CHECK_INT(parse("\x82\xfe\x00\x10" "abcd", 8, false, &h, &why), -1);
    CHECK_INT(parse("\x82\xff\x00\x00\x00\x00\x00\x00\x01\x00" "abcd", 14, false, &h, &why), -1);
    CHECK_INT(parse("\x82\xff\x80\x00\x00\x00\x00\x01\x00\x00" "abcd", 14, false, &h, &why), -1);
    /* The server's rules. */
    CHECK_INT(parse("\x81\x05" "Hello", 7, false, &h, &why), -1);      /* unmasked */
    CHECK(why && strstr(why, "unmasked"));
    CHECK_INT(parse("\xa1\x80" "abcd", 6, false, &h, &why), -1);       /* RSV2 */
    CHECK_INT(parse("\xc1\x80" "abcd", 6, false, &h, &why), -1);       /* RSV1, no deflate */
    CHECK_INT(parse("\xc1\x80" "abcd", 6, true, &h, &why), 6);         /* RSV1 agreed */
    CHECK(h.rsv1);
    CHECK_INT(parse("\x83\x80" "abcd", 6, false, &h, &why), -1);       /* opcode 3 */
    CHECK_INT(parse("\x8b\x80" "abcd", 6, false, &h, &why), -1);       /* opcode 0xB */
    CHECK_INT(parse("\x09\x80" "abcd", 6, false, &h, &why), -1);       /* fragmented ping */
    CHECK_INT(parse("\x89\xfe\x00\x7e" "abcd", 8, false, &h, &why), -1); /* ping of 126 */
    CHECK_INT(parse("\x89\xfd" "abcd", 6, false, &h, &why), 6);        /* ping of 125 */
    CHECK_INT(parse("\xc9\x80" "abcd", 6, true, &h, &why), -1);        /* compressed ping */
}

static void test_write(void)
{
    uint8_t out[PT_WS_HEAD_MAX];
    CHECK_INT(pt_ws_head_write(out, true, false, PT_WS_TEXT, 5), 2);
    CHECK(out[0] == 0x81 && out[1] == 5);
    CHECK_INT(pt_ws_head_write(out, true, true, PT_WS_BINARY, 125), 2);
    CHECK(out[0] == 0xc2 && out[1] == 125);
    CHECK_INT(pt_ws_head_write(out, false, false, PT_WS_TEXT, 126), 4);
    CHECK(out[0] == 0x01 && out[1] == 126 && out[2] == 0 && out[3] == 126);
    CHECK_INT(pt_ws_head_write(out, true, false, PT_WS_BINARY, 65535), 4);
    CHECK_INT(pt_ws_head_write(out, true, false, PT_WS_BINARY, 65536), 10);
    CHECK(out[1] == 127 && out[7] == 1 && out[8] == 0 && out[9] == 0);
}

static bool utf8(const char *s, size_t n)
{
    return pt_utf8_feed(0, (const uint8_t *)s, n) == 0;
}

static void test_utf8(void)
{
    CHECK(utf8("", 0));
    CHECK(utf8("hello", 5));
    CHECK(utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11)); /* Autobahn 6.2 */
    CHECK(utf8("\xf4\x8f\xbf\xbf", 4));           /* U+10FFFF */
    CHECK(utf8("\xef\xbf\xbf", 3));               /* U+FFFF */
    CHECK(!utf8("\xf4\x90\x80\x80", 4));          /* past U+10FFFF */
    CHECK(!utf8("\xed\xa0\x80", 3));              /* a surrogate */
    CHECK(!utf8("\xc0\xaf", 2));                  /* overlong '/' */
    CHECK(!utf8("\xe0\x80\xaf", 3));
    CHECK(!utf8("\xf0\x80\x80\xaf", 4));
    CHECK(!utf8("\x80", 1));                      /* a lone continuation */
    CHECK(!utf8("\xfe", 1));
    CHECK(!utf8("\xce", 1));                      /* incomplete at the end */
    /* Split anywhere, the answer is the same. */
    const char *s = "\xf0\x9f\x98\x80\xe2\x98\x83x";
    for (size_t cut = 0; cut <= 8; cut++) {
        uint32_t st = pt_utf8_feed(0, (const uint8_t *)s, cut);
        st = pt_utf8_feed(st, (const uint8_t *)s + cut, 8 - cut);
        CHECK_INT(st, 0);
    }
    uint32_t st = pt_utf8_feed(0, (const uint8_t *)"\xed", 1);
    CHECK(st != 0 && st != PT_UTF8_BAD);
    CHECK_INT(pt_utf8_feed(st, (const uint8_t *)"\xa0", 1), PT_UTF8_BAD);
}

static void test_close_codes(void)
{
    CHECK(pt_ws_close_code_ok(1000) && pt_ws_close_code_ok(1011) && pt_ws_close_code_ok(3000) &&
          pt_ws_close_code_ok(4999));
    CHECK(!pt_ws_close_code_ok(999) && !pt_ws_close_code_ok(1004) && !pt_ws_close_code_ok(1005) &&
          !pt_ws_close_code_ok(1006) && !pt_ws_close_code_ok(1015) && !pt_ws_close_code_ok(2999) &&
          !pt_ws_close_code_ok(5000));
}

static bool agree(const char *offer, char *resp, int *bits)
{
    return pt_ws_deflate_agree(offer, strlen(offer), resp, 160, bits);
}

static void test_negotiation(void)
{
    char resp[160];
    int bits = 0;
    CHECK(agree("permessage-deflate", resp, &bits));
    CHECK_STR(resp, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    CHECK_INT(bits, 10);
    CHECK(agree("permessage-deflate; client_max_window_bits", resp, &bits));
    CHECK(agree("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9", resp,
                &bits));
    CHECK(strstr(resp, "server_max_window_bits=9") != NULL);
    CHECK_INT(bits, 9);
    CHECK(agree("permessage-deflate; server_max_window_bits=\"12\"", resp, &bits));
    CHECK_INT(bits, 10);
    /* Declined: unknown, repeated or out-of-range parameters, window 8. */
    CHECK(!agree("permessage-deflate; foo", resp, &bits));
    CHECK(!agree("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                 resp, &bits));
    CHECK(!agree("permessage-deflate; server_max_window_bits=16", resp, &bits));
    CHECK(!agree("permessage-deflate; server_max_window_bits=8", resp, &bits));
    CHECK(!agree("permessage-deflate; server_max_window_bits", resp, &bits));
    CHECK(!agree("deflate-stream", resp, &bits));
    /* A declined offer, then an acceptable one. */
    CHECK(agree("permessage-deflate; foo, permessage-deflate", resp, &bits));
}

static void test_roundtrip_and_bomb(void)
{
    char text[5000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "abcabcabd"[i % 9];
    uint8_t *z;
    size_t zlen;
    CHECK_INT(pt_ws_deflate(text, sizeof(text), 10, &z, &zlen), 0);
    CHECK(zlen < sizeof(text) / 4);
    char *out;
    size_t olen;
    CHECK_INT(pt_ws_inflate(z, zlen, 1 << 20, &out, &olen), 0);
    CHECK(olen == sizeof(text) && memcmp(out, text, olen) == 0);
    free(out);
    /* Exactly at the limit is fine; one byte less is too big. */
    CHECK_INT(pt_ws_inflate(z, zlen, sizeof(text), &out, &olen), 0);
    free(out);
    CHECK_INT(pt_ws_inflate(z, zlen, sizeof(text) - 1, &out, &olen), -2);
    free(z);
    /* 10 MB of zeros in a few KB stops at the limit. */
    size_t big = 10 << 20;
    char *zeros = calloc(1, big);
    CHECK_INT(pt_ws_deflate(zeros, big, 10, &z, &zlen), 0);
    free(zeros);
    CHECK_INT(pt_ws_inflate(z, zlen, 65536, &out, &olen), -2);
    free(z);
    /* Garbage is refused. */
    CHECK_INT(pt_ws_inflate((const uint8_t *)"\xff\xff\xff\xff", 4, 1000, &out, &olen), -1);
    /* An empty message. */
    CHECK_INT(pt_ws_deflate("", 0, 10, &z, &zlen), 0);
    CHECK_INT(pt_ws_inflate(z, zlen, 10, &out, &olen), 0);
    CHECK_INT(olen, 0);
    free(out);
    free(z);
}

int main(void)
{
    test_heads();
    test_write();
    test_utf8();
    test_close_codes();
    test_negotiation();
    test_roundtrip_and_bomb();
    return check_done("ws");
}

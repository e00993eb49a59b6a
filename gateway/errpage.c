/* Error responses: the vhost's error-document-NNN when it has one (served
 * with the original status, no redirect), else a small built-in page that
 * links /error.css so a site styles all its errors from one file. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/request.h"

static const char *explain(int status)
{
    switch (status) {
    case 400: return "The server could not understand the request.";
    case 401: return "This resource requires authentication.";
    case 403: return "You do not have permission to access this resource.";
    case 404: return "The requested URL was not found on this server.";
    case 405: return "The request method is not allowed for this resource.";
    case 408: return "The server timed out waiting for the request.";
    case 413: return "The request body is too large.";
    case 414: return "The request URL is too long.";
    case 416: return "The requested range cannot be satisfied.";
    case 421: return "The request was sent to a server that cannot answer it.";
    case 429: return "Too many requests; try again later.";
    case 431: return "The request headers are too large.";
    case 500: return "The server encountered an internal error.";
    case 501: return "The server does not support this functionality.";
    case 502: return "The upstream server sent an invalid response.";
    case 503: return "The service is temporarily unavailable.";
    case 504: return "The upstream server did not answer in time.";
    case 505: return "The HTTP version is not supported.";
    }
    return status >= 500 ? "The server could not complete the request."
                         : "The request could not be completed.";
}

static const char *find_errdoc(const struct pt_vhost *vh, int status)
{
    for (size_t i = 0; vh && i < vh->n_errdocs; i++)
        if (vh->errdocs[i].status == status)
            return vh->errdocs[i].path;
    return NULL;
}

/* The error document is fetched like a plain GET: conditionals and ranges
 * of the original request must not turn it into a 304 or a 206. */
static void drop_conditionals(struct pt_req *r)
{
    size_t j = 0;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if ((h->name_len > 3 && strncasecmp(h->name, "if-", 3) == 0) ||
            (h->name_len == 5 && strncasecmp(h->name, "range", 5) == 0))
            continue;
        r->hdrs[j++] = *h;
    }
    r->n_hdrs = j;
}

static bool try_errdoc(struct pt_req *r, int status)
{
    const char *doc = find_errdoc(r->vhost, status);
    if (!doc || r->internal_redirects > 0 ||
        (r->method != PT_M_GET && r->method != PT_M_HEAD))
        return false;
    r->status_override = status;
    drop_conditionals(r);
    pt_req_reprocess(r, NULL, 0, doc, strlen(doc), NULL, 0);
    return true;
}

void pt_respond_error(struct pt_req *r, int status, const char *note)
{
    if (note) {
        r->log_note = note;
        /* Why portico refused or failed: one line (the access log has the
         * status); the page itself stays generic. */
        const struct pt_mount *m = r->mount;
        pt_info_rl("%s: %.*s %.*s: %d %s%s%s%s", r->peer_ip,
                r->method_str ? (int)r->method_len : 1, r->method_str ? r->method_str : "-",
                r->target ? (int)(r->target_len > 200 ? 200 : r->target_len) : 1,
                r->target ? r->target : "-", status, note, m ? " (mount " : "",
                m ? m->mountpoint : "", m ? ")" : "");
    }
    if (r->status_override) /* the error document itself failed */
        status = r->status_override;
    else if (try_errdoc(r, status))
        return;
    /* Headers the handler set for this error (Allow, WWW-Authenticate,
     * Content-Range) are kept, with an error document too. */
    const char *reason = pt_status_reason(status);
    char *page = pt_pool_printf(r->pool,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>%d %s</title>\n<link rel=\"stylesheet\" href=\"/error.css\">\n</head>\n"
        "<body class=\"error\"><main>\n<h1><span class=\"code\">%d</span> %s</h1>\n"
        "<p>%s</p>\n</main></body></html>\n",
        status, reason, status, reason, explain(status));
    pt_resp_header(r, "Cache-Control", "no-store");
    r->status_override = 0;
    pt_respond_buf(r, status, "text/html; charset=utf-8", page, strlen(page));
}

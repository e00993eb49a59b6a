#!/bin/sh
# The demo CGI: conf.d/localhost mounts it at /cgi-bin/env.  It shows what
# a program run by portico sees: the RFC 3875 environment (PATH_INFO is
# whatever follows /cgi-bin/env in the URL) and, for a POST, the start of
# its request body.  Everything printed is HTML-escaped.
esc() {
    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

printf 'Content-Type: text/html; charset=utf-8\r\n'
printf 'Cache-Control: no-store\r\n'
printf '\r\n'

cat <<'HTML'
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>portico CGI demo</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>CGI demo</h1>
<p class="lead">This page is written by <code>cgi-bin/env.sh</code>, a shell script run
through the <code>/cgi-bin/env</code> mount (<code>"origin": "cgi://cgi-bin/env.sh"</code>).
Try <a href="/cgi-bin/env/some/path?a=1&amp;b=2">a path and a query</a>, or post the form.</p>
<form method="post" action="/cgi-bin/env/posted">
<input name="message" value="hello" aria-label="message"> <button>POST</button>
</form>
HTML

if [ "$REQUEST_METHOD" = POST ]; then
    printf '<h2>Request body (first 4 KiB)</h2>\n<pre>'
    head -c 4096 | esc
    printf '</pre>\n'
fi

printf '<h2>Environment</h2>\n<table>\n<tr><th>variable</th><th>value</th></tr>\n'
env | LC_ALL=C sort | esc |
    sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=\(.*\)$/<tr><td><code>\1<\/code><\/td><td><code>\2<\/code><\/td><\/tr>/p'
printf '</table>\n<p><a href="/">back</a></p>\n</main>\n</body>\n</html>\n'

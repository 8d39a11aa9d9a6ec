# A message was moved or appended into Junk: report its sender and client IP as bad.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

set "mailbox" "Junk";
if environment :matches "imap.mailbox" "*" { set "mailbox" "${1}"; }
set "user" "unknown";
if environment :matches "imap.user" "*" { set "user" "${1}"; }

pipe :copy "repgraph-feedback" ["spam", "${mailbox}", "${user}"];

# A message was moved out of Junk: report its sender and client IP as good, unless it went
# to the Trash (deleting spam is not a verdict that it is ham).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

set "mailbox" "";
if environment :matches "imap.mailbox" "*" { set "mailbox" "${1}"; }
if string :is "${mailbox}" ["Trash", "Junk"] { stop; }
set "user" "unknown";
if environment :matches "imap.user" "*" { set "user" "${1}"; }

pipe :copy "repgraph-feedback" ["ham", "${mailbox}", "${user}"];

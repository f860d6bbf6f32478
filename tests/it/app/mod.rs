//! `app`: the whole server as an operator runs it, when the mail side fails (a TCP fault
//! proxy between the server and the stack's Dovecot and Postfix) and when it is told to
//! stop (the real binary and SIGTERM).

mod faults;
mod faults_more;
mod scale_out;
mod shutdown;

/* One table gives both the names and the messages of the errors fos returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fos/error.h"

#define FOS_ERRNO_MAP(X)                                                                           \
    X(EAGAIN, "mailbox or channel full; nothing was written")                                      \
    X(EPERM, "wrong capability for this mailbox")                                                  \
    X(ENOENT, "no such mailbox or name")                                                           \
    X(EHOSTDOWN, "destination core is dead")                                                       \
    X(ETIMEDOUT, "timed out")                                                                      \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(EMSGSIZE, "message too large")                                                               \
    X(EDEADLK, "deadlock: every fiber waits and nothing can wake one")                             \
    X(ENAMETOOLONG, "name too long")                                                               \
    X(EBUSY, "lost to conflicting writes every time")                                              \
    X(ECANCELED, "the transaction was decided before it arrived")                                  \
    X(EBADMSG, "malformed message")                                                                \
    X(ENOSYS, "the server has no handler for this request")                                        \
    X(EALREADY, "already answered")                                                                \
    X(EPIPE, "channel closed")                                                                     \
    X(ENOSPC, "no room left")                                                                      \
    X(ENOBUFS, "buffer too small")                                                                 \
    X(EXDEV, "not this member's")                                                                  \
    X(EACCES, "not allowed to the asking core")                                                    \
    X(EEXIST, "already there")

/* Switches on err itself, not -err: a plugin may hand back INT_MIN. */
const char *fos_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define X(e, msg)                                                                                  \
    case -e:                                                                                       \
        return msg;
        FOS_ERRNO_MAP(X)
#undef X
    }
    /* An errno fos itself never returns (a plugin's -EIO, say): the C
     * library's words for it. */
    const char *d = err < 0 && err > -4096 ? strerrordesc_np(-err) : NULL;
    if (d) return d;
    return err > 0 ? "a positive status, where 0 or a negative errno belongs" : "unknown error";
}

const char *fos_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define X(e, msg)                                                                                  \
    case -e:                                                                                       \
        return #e;
        FOS_ERRNO_MAP(X)
#undef X
    }
    const char *n = err < 0 && err > -4096 ? strerrorname_np(-err) : NULL;
    return n ? n : "E?";
}

_Noreturn void fos__null_handle(const char *call)
{
    fprintf(stderr, "fossim: %s was called with a NULL handle\n", call);
    abort();
}

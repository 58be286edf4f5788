/* Servers and remote procedure calls.
 *
 * A server is a mailbox with a handler per message type, served by a pool of
 * fibers that each wait on the mailbox: each request runs in a fiber of its
 * own, so a handler may itself call other servers and wait. Replies to a
 * core's calls arrive in reply mailboxes, and the fibers they wake run before
 * fibers woken by new requests.
 *
 * An RPC interface is declared once, as X-macro lists of fields:
 *
 *     #define KV_GET_REQ(F)  F(str, key)
 *     #define KV_GET_RESP(F) F(bytes, value) F(u64, version)
 *     FOS_RPC(kv_get, 10, KV_GET_REQ, KV_GET_RESP)
 *
 * which yields `struct kv_get_req`, `struct kv_get_resp` (str and bytes fields
 * are a pointer and, for bytes, a `_len`), the client stub
 * `kv_get_call(dst, cap, &req, &resp, timeout)`, and the server side:
 * `FOS_RPC_SERVE(server, kv_get, fn, ctx)` registers
 * `int fn(void *ctx, const struct kv_get_req *, struct kv_get_resp *)`, whose
 * return value (0 or a negative errno) the caller's stub returns. Field types:
 * u32, u64, i64, str (NUL-terminated), bytes. Nothing is marshalled by hand. */
#ifndef FOS_RPC_H
#define FOS_RPC_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "fos/mailbox.h"

/* ---- servers -------------------------------------------------------------- */

typedef struct fos_server fos_server;

/* A request being served: the message and where its reply goes. */
typedef struct fos_request {
    fos_msg *msg; /* header and payload, valid until the handler returns */
    fos_server *server;
    int replied;
    fos_cycles taken; /* when the dispatcher took it: its service time runs to the answer */
} fos_request;

/* Handles one request and answers it with fos_reply. A handler that returns
 * without replying leaves its caller to the call's timeout: that is how a
 * server drops a request on purpose. */
typedef void (*fos_handler)(fos_request *rq, void *ctx);

typedef struct fos_server_opts {
    size_t capacity;  /* requests the mailbox queues; 0 = 64 */
    uint32_t fibers;  /* requests served at once (the pool's most: it starts with one
                       * fiber and grows as requests overlap); 0 = 8 */
    const char *name; /* for reports; not copied */
    fos_mbox *mbox;   /* serve this mailbox of the calling core (made at boot,
                       * its address already known); NULL: make one */
    fos_cap cap;      /* ... and its capability */
} fos_server_opts;

/* Creates a server on the calling core: its mailbox and its pool of fibers
 * (daemons: a server does not keep a run alive). Register handlers before the
 * first request can arrive. Returns 0, -EINVAL (a mailbox of another core),
 * -ENOENT (a mailbox destroyed, if no mailbox was made since: the handle is
 * not to be used after fos_mbox_destroy), -EPERM (not its capability), -EBUSY (another
 * server serves it), -ENOMEM. */
int fos_server_create(const fos_server_opts *o, fos_server **out);
/* Handles requests of `type` with h. Returns 0, -EINVAL (type already taken,
 * or a reserved type: bit 31 set), -ENOMEM. */
int fos_server_handle(fos_server *s, uint32_t type, fos_handler h, void *ctx);
/* Stops taking requests: the mailbox is destroyed (senders get -ENOENT) and the
 * pool's fibers end once their current request is done. Returns 0 or -EINVAL. */
int fos_server_destroy(fos_server *s);
fos_addr fos_server_addr(const fos_server *s);
fos_cap fos_server_cap(const fos_server *s);
fos_mbox *fos_server_mbox(const fos_server *s);

/* Requests a server answered (served), and how many of those answers were an
 * error status. */
typedef struct fos_server_stats {
    uint64_t served, errors, unknown_type, malformed;
    uint32_t fibers; /* the pool's size so far: at most fos_server_opts.fibers */
} fos_server_stats;
void fos_server_get_stats(const fos_server *s, fos_server_stats *out);

/* Replies to rq with status (0 or a negative errno) and, for status 0, the
 * payload of resp (NULL: none); resp's header is overwritten. Once per request:
 * a second reply gives -EALREADY. Returns what the reply's send returned (a
 * caller that is gone loses its answer; the server goes on). A yield point. */
int fos_reply(fos_request *rq, int status, fos_msg *resp);

/* Answering later: a handler that cannot answer yet (a lock that is held)
 * keeps the request's return path and returns; whoever can answer does, from
 * any fiber of the server's core. */
typedef struct fos_deferred {
    fos_addr to;
    fos_cap cap;
    uint64_t corr;
    fos_server *server;
    fos_cycles taken; /* the request's, carried to the answer */
} fos_deferred;

/* Inside a handler: the core the request being handled came from (its kernel
 * says so: it cannot be forged); FOS_CORE_NONE outside a handler. */
fos_core_id fos_rpc_asker(void);

/* What a typed handler returns after fos_rpc_defer: no answer now. */
#define FOS_RPC_LATER 1

/* Inside a handler: keeps the request being handled in d and marks it
 * answered-later. Returns 0, or -EINVAL outside a handler. */
int fos_rpc_defer(fos_deferred *d);
/* Answers a deferred request: status, and for status 0 resp's payload. From
 * the server's own core (any of its fibers): elsewhere -EXDEV, since a caller
 * takes an answer only from the core it asked. */
int fos_rpc_answer(fos_deferred *d, int status, fos_msg *resp);

/* ---- calls ----------------------------------------------------------------- */

/* Reply types carry the status: bit 31 set, the errno (0 for success) below. */
#define FOS_RPC_REPLY 0x80000000u

/* Sends req (its corr, reply_to and reply_cap are filled in) to dst and parks
 * the calling fiber until the matching reply or `timeout` cycles. The reply's
 * payload goes to resp (respsz bytes of buffer). Returns the server's status
 * (0 or a negative errno), a send's error, -ETIMEDOUT, or -EMSGSIZE (the reply
 * did not fit). A reply that comes after its call timed out, or from another
 * core than dst's (the kernel stamps the sender), is dropped. A yield point. */
int fos_rpc_call(fos_addr dst, fos_cap cap, fos_msg *req, fos_msg *resp, size_t respsz,
                 fos_cycles timeout);

/* Sends req to each of n servers, then collects their replies as they come,
 * until all have answered or `timeout` cycles have passed: the requests go out
 * one after another (each send is a trap) and the servers work at once.
 * status[i] gets server i's status, or the send's error, or -ETIMEDOUT;
 * reply i's payload goes to resp[i] when resp is not NULL (each of respsz
 * bytes). Returns how many answered with status 0. A yield point. */
int fos_rpc_gather(const fos_addr *dst, const fos_cap *cap, uint32_t n, fos_msg *req,
                   fos_msg *const *resp, size_t respsz, int *status, fos_cycles timeout);

/* ---- the interface declarations ------------------------------------------- */

/* Marshalling: fields in order, integers little-endian as the host (both ends
 * are one process), str and bytes as a u32 length and the bytes. Unpacking
 * checks every length against the message: a malformed message gives
 * -EBADMSG, never a read past it. */
typedef struct fos_rpc_wr {
    uint8_t *p, *end;
    int err;
} fos_rpc_wr;
typedef struct fos_rpc_rd {
    const uint8_t *p, *end;
    int err;
} fos_rpc_rd;

static inline void fos__rpc_put(fos_rpc_wr *w, const void *v, size_t n)
{
    if (w->err || (size_t)(w->end - w->p) < n) {
        w->err = -EMSGSIZE;
        return;
    }
    if (n) memcpy(w->p, v, n);
    w->p += n;
}
static inline void fos__rpc_get(fos_rpc_rd *r, void *v, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = -EBADMSG;
        return;
    }
    if (n) memcpy(v, r->p, n);
    r->p += n;
}
static inline const void *fos__rpc_span(fos_rpc_rd *r, uint32_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = -EBADMSG;
        return NULL;
    }
    const void *v = r->p;
    r->p += n;
    return v;
}

/* Per field type: declaration, packing, unpacking. */
#define FOS__RPC_DECL_u32(n) uint32_t n;
#define FOS__RPC_DECL_u64(n) uint64_t n;
#define FOS__RPC_DECL_i64(n) int64_t n;
#define FOS__RPC_DECL_str(n) const char *n;
#define FOS__RPC_DECL_bytes(n)                                                                     \
    const void *n;                                                                                 \
    uint32_t n##_len;
#define FOS__RPC_PUT_u32(w, s, n) fos__rpc_put(w, &(s)->n, 4);
#define FOS__RPC_PUT_u64(w, s, n) fos__rpc_put(w, &(s)->n, 8);
#define FOS__RPC_PUT_i64(w, s, n) fos__rpc_put(w, &(s)->n, 8);
#define FOS__RPC_PUT_str(w, s, n)                                                                  \
    do {                                                                                           \
        uint32_t l_ = (s)->n ? (uint32_t)strlen((s)->n) : 0;                                       \
        fos__rpc_put(w, &l_, 4);                                                                   \
        fos__rpc_put(w, (s)->n, l_);                                                               \
        fos__rpc_put(w, "", 1);                                                                    \
    } while (0);
#define FOS__RPC_PUT_bytes(w, s, n)                                                                \
    do {                                                                                           \
        fos__rpc_put(w, &(s)->n##_len, 4);                                                         \
        fos__rpc_put(w, (s)->n, (s)->n##_len);                                                     \
    } while (0);
#define FOS__RPC_GET_u32(r, s, n) fos__rpc_get(r, &(s)->n, 4);
#define FOS__RPC_GET_u64(r, s, n) fos__rpc_get(r, &(s)->n, 8);
#define FOS__RPC_GET_i64(r, s, n) fos__rpc_get(r, &(s)->n, 8);
/* A str arrives with its NUL, which is checked, so the pointer is a C string. */
#define FOS__RPC_GET_str(r, s, n)                                                                  \
    do {                                                                                           \
        uint32_t l_ = 0;                                                                           \
        fos__rpc_get(r, &l_, 4);                                                                   \
        const char *v_ = l_ < UINT32_MAX ? (const char *)fos__rpc_span(r, l_ + 1) : NULL;          \
        if (v_ && v_[l_] != '\0') (r)->err = -EBADMSG;                                             \
        if (v_ && memchr(v_, '\0', l_)) (r)->err = -EBADMSG;                                       \
        (s)->n = (r)->err ? NULL : v_;                                                             \
    } while (0);
#define FOS__RPC_GET_bytes(r, s, n)                                                                \
    do {                                                                                           \
        fos__rpc_get(r, &(s)->n##_len, 4);                                                         \
        (s)->n = fos__rpc_span(r, (s)->n##_len);                                                   \
    } while (0);

#define FOS__RPC_F_DECL(t, n) FOS__RPC_DECL_##t(n)
#define FOS__RPC_F_PUT(t, n) FOS__RPC_PUT_##t(w_, s_, n)
#define FOS__RPC_F_GET(t, n) FOS__RPC_GET_##t(r_, s_, n)

/* The largest message an RPC stub builds: header and payload. */
#ifndef FOS_RPC_MAX_BYTES
#define FOS_RPC_MAX_BYTES 4096
#endif

/* What an FOS_RPC declaration generates: a file uses only some of it. */
#define FOS__RPC_FN static inline __attribute__((unused))

/* Pack s into the payload of m (room: cap bytes after the header). */
#define FOS__RPC_PACKER(fn, T, LIST)                                                               \
    FOS__RPC_FN int fn(fos_msg *m, size_t cap, const T *s_)                                        \
    {                                                                                              \
        fos_rpc_wr wv_ = {(uint8_t *)fos_msg_data(m), (uint8_t *)fos_msg_data(m) + cap, 0};        \
        fos_rpc_wr *w_ = &wv_;                                                                     \
        (void)s_;                                                                                  \
        (void)w_;                                                                                  \
        LIST(FOS__RPC_F_PUT)                                                                       \
        m->len = (uint32_t)(wv_.p - (uint8_t *)fos_msg_data(m));                                   \
        return wv_.err;                                                                            \
    }
#define FOS__RPC_UNPACKER(fn, T, LIST)                                                             \
    FOS__RPC_FN int fn(const fos_msg *m, T *s_)                                                    \
    {                                                                                              \
        const uint8_t *d_ = (const uint8_t *)(m + 1);                                              \
        fos_rpc_rd rv_ = {d_, d_ + m->len, 0};                                                     \
        fos_rpc_rd *r_ = &rv_;                                                                     \
        (void)s_;                                                                                  \
        (void)r_;                                                                                  \
        LIST(FOS__RPC_F_GET)                                                                       \
        if (!rv_.err && rv_.p != rv_.end) rv_.err = -EBADMSG; /* trailing bytes */                 \
        return rv_.err;                                                                            \
    }

/* Registers the dispatch entry of an RPC with the server. */
typedef void (*fos__rpc_fn)(void);
int fos__rpc_serve(fos_server *s, uint32_t type, int (*tramp)(fos_request *, fos__rpc_fn, void *),
                   fos__rpc_fn fn, void *ctx);

#define FOS_RPC(name, type_, REQ, RESP)                                                            \
    enum { name##_TYPE = (type_) };                                                                \
    struct name##_req {                                                                            \
        REQ(FOS__RPC_F_DECL) char unused_;                                                         \
    };                                                                                             \
    struct name##_resp {                                                                           \
        RESP(FOS__RPC_F_DECL)                                                                      \
        /* where the reply's str and bytes point: the reply message itself */                      \
        _Alignas(8) unsigned char raw_[FOS_RPC_MAX_BYTES];                                         \
    };                                                                                             \
    FOS__RPC_PACKER(name##_pack_req, struct name##_req, REQ)                                       \
    FOS__RPC_UNPACKER(name##_unpack_req, struct name##_req, REQ)                                   \
    FOS__RPC_PACKER(name##_pack_resp, struct name##_resp, RESP)                                    \
    FOS__RPC_UNPACKER(name##_unpack_resp, struct name##_resp, RESP)                                \
    /* The client stub. */                                                                         \
    FOS__RPC_FN int name##_call(fos_addr dst_, fos_cap cap_, const struct name##_req *in_,         \
                                struct name##_resp *out_, fos_cycles timeout_)                     \
    {                                                                                              \
        _Alignas(8) unsigned char req_[FOS_RPC_MAX_BYTES];                                         \
        fos_msg *m_ = (fos_msg *)req_;                                                             \
        *m_ = (fos_msg){.type = name##_TYPE};                                                      \
        int r_ = name##_pack_req(m_, sizeof req_ - sizeof(fos_msg), in_);                          \
        if (r_) return r_;                                                                         \
        fos_msg *rm_ = (fos_msg *)out_->raw_;                                                      \
        r_ = fos_rpc_call(dst_, cap_, m_, rm_, sizeof out_->raw_, timeout_);                       \
        if (r_) return r_;                                                                         \
        return name##_unpack_resp(rm_, out_);                                                      \
    }                                                                                              \
    /* The server side: unpack, call the typed handler, pack and reply. */                         \
    FOS__RPC_FN int name##_tramp_(fos_request *rq_, fos__rpc_fn fn_, void *ctx_)                   \
    {                                                                                              \
        struct name##_req in_;                                                                     \
        int r_ = name##_unpack_req(rq_->msg, &in_);                                                \
        if (r_) return r_; /* answered -EBADMSG by the dispatcher */                               \
        struct name##_resp out_;                                                                   \
        int (*f_)(void *, const struct name##_req *, struct name##_resp *) =                       \
            (int (*)(void *, const struct name##_req *, struct name##_resp *))fn_;                 \
        memset(&out_, 0, offsetof(struct name##_resp, raw_));                                      \
        r_ = f_(ctx_, &in_, &out_);                                                                \
        /* LATER without fos_rpc_defer, or any other positive status, is the                       \
         * handler's bug, not the caller's: answered -EINVAL, not -EBADMSG. */                     \
        if (r_ == FOS_RPC_LATER && rq_->replied) return 0;                                         \
        if (r_ > 0) r_ = -EINVAL;                                                                  \
        /* The handler's str and bytes may point anywhere, raw_ included. */                       \
        _Alignas(8) unsigned char buf_[FOS_RPC_MAX_BYTES];                                         \
        fos_msg *m_ = (fos_msg *)buf_;                                                             \
        *m_ = (fos_msg){0};                                                                        \
        if (r_ == 0) r_ = name##_pack_resp(m_, sizeof buf_ - sizeof(fos_msg), &out_);              \
        return fos_reply(rq_, r_, r_ == 0 ? m_ : NULL);                                            \
    }                                                                                              \
    FOS_RPC_ANSWER(name)

/* The answer to a deferred request of RPC `name`: NAME_answer(d, status, &resp). */
#define FOS_RPC_ANSWER(name)                                                                       \
    FOS__RPC_FN int name##_answer(fos_deferred *d_, int status_, const struct name##_resp *out_)   \
    {                                                                                              \
        _Alignas(8) unsigned char buf_[FOS_RPC_MAX_BYTES];                                         \
        fos_msg *m_ = (fos_msg *)buf_;                                                             \
        *m_ = (fos_msg){0};                                                                        \
        if (status_ == 0) status_ = name##_pack_resp(m_, sizeof buf_ - sizeof(fos_msg), out_);     \
        return fos_rpc_answer(d_, status_, status_ == 0 ? m_ : NULL);                              \
    }

/* Registers fn, an `int fn(void *ctx, const struct NAME_req *, struct
 * NAME_resp *)`, as the handler of RPC `name` on server s. */
#define FOS_RPC_SERVE(s, name, fn, ctx)                                                            \
    fos__rpc_serve(                                                                                \
        (s), name##_TYPE, name##_tramp_,                                                           \
        (fos__rpc_fn)(int (*)(void *, const struct name##_req *, struct name##_resp *))(fn),       \
        (ctx))

#endif

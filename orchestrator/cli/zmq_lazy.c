/* zmq_lazy.c - the libzmq functions the `swarm` executable calls, bound on
 * first use instead of at exec.
 *
 * Why: loading libzmq and what it pulls in (libstdc++, libsodium, libpgm,
 * libnorm, the Kerberos libraries) costs every `swarm` process ~1.7 ms
 * before main, about half its start-up here, while the common case, a local
 * swarm on ipc://, needs none of it (zmtp.c speaks the protocol directly).
 * Only the `swarm` executable links this file, with --as-needed, so libzmq
 * is not a load-time dependency of it; tcp:// endpoints, `swarm keygen` and
 * libzmq's own checks load it here when first called. Other programs link
 * libzmq as usual.
 *
 * The table of resolved functions is process-wide by nature (it is what the
 * dynamic loader would have bound at exec), filled once under pthread_once
 * and never changed after. If libzmq cannot be loaded, every call fails
 * with errno ENOSYS and zmq_strerror says why. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define ZMQ_LAZY_FUNCS(X)                                                                          \
    X(void *, zmq_ctx_new, (void))                                                                 \
    X(int, zmq_ctx_term, (void *))                                                                 \
    X(void *, zmq_socket, (void *, int))                                                           \
    X(int, zmq_close, (void *))                                                                    \
    X(int, zmq_setsockopt, (void *, int, const void *, size_t))                                    \
    X(int, zmq_getsockopt, (void *, int, void *, size_t *))                                        \
    X(int, zmq_bind, (void *, const char *))                                                       \
    X(int, zmq_connect, (void *, const char *))                                                    \
    X(int, zmq_send, (void *, const void *, size_t, int))                                          \
    X(int, zmq_msg_init, (zmq_msg_t *))                                                            \
    X(int, zmq_msg_recv, (zmq_msg_t *, void *, int))                                               \
    X(int, zmq_msg_close, (zmq_msg_t *))                                                           \
    X(int, zmq_msg_move, (zmq_msg_t *, zmq_msg_t *))                                               \
    X(void *, zmq_msg_data, (zmq_msg_t *))                                                         \
    X(size_t, zmq_msg_size, (const zmq_msg_t *))                                                   \
    X(int, zmq_msg_more, (const zmq_msg_t *))                                                      \
    X(int, zmq_poll, (zmq_pollitem_t *, int, long))                                                \
    X(const char *, zmq_strerror, (int))                                                           \
    X(int, zmq_socket_monitor, (void *, const char *, int))                                        \
    X(int, zmq_has, (const char *))                                                                \
    X(int, zmq_curve_keypair, (char *, char *))                                                    \
    X(int, zmq_curve_public, (char *, const char *))                                               \
    X(uint8_t *, zmq_z85_decode, (uint8_t *, const char *))                                        \
    X(char *, zmq_z85_encode, (char *, const uint8_t *, size_t))

static struct {
#define ZMQ_LAZY_FIELD(ret, name, args) ret(*name) args;
    ZMQ_LAZY_FUNCS(ZMQ_LAZY_FIELD)
#undef ZMQ_LAZY_FIELD
    int loaded; /* 1 every function resolved, -1 not */
    char why[300];
} zmq_lazy;

static pthread_once_t zmq_lazy_once = PTHREAD_ONCE_INIT;

static void zmq_lazy_load(void)
{
    void *h = dlopen("libzmq.so.5", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        snprintf(zmq_lazy.why, sizeof zmq_lazy.why, "libzmq could not be loaded: %s", dlerror());
        zmq_lazy.loaded = -1;
        return;
    }
    zmq_lazy.loaded = 1;
    /* dlsym answers a void *; ISO C has no conversion from it to a function
     * pointer, so its bytes are copied (both are one address on POSIX) */
#define ZMQ_LAZY_SYM(ret, name, args)                                                              \
    {                                                                                              \
        void *sym = dlsym(h, #name);                                                               \
        memcpy(&zmq_lazy.name, &sym, sizeof sym);                                                  \
    }                                                                                              \
    if (!zmq_lazy.name && zmq_lazy.loaded == 1) {                                                  \
        snprintf(zmq_lazy.why, sizeof zmq_lazy.why, "libzmq has no %s", #name);                    \
        zmq_lazy.loaded = -1;                                                                      \
    }
    ZMQ_LAZY_FUNCS(ZMQ_LAZY_SYM)
#undef ZMQ_LAZY_SYM
    /* the handle stays open for the life of the process, as a linked library would */
}

static int zmq_lazy_ready(void)
{
    pthread_once(&zmq_lazy_once, zmq_lazy_load);
    if (zmq_lazy.loaded == 1) return 1;
    errno = ENOSYS;
    return 0;
}

void *zmq_ctx_new(void)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_ctx_new() : NULL;
}

int zmq_ctx_term(void *c)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_ctx_term(c) : -1;
}

void *zmq_socket(void *c, int type)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_socket(c, type) : NULL;
}

int zmq_close(void *s)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_close(s) : -1;
}

int zmq_setsockopt(void *s, int option, const void *v, size_t n)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_setsockopt(s, option, v, n) : -1;
}

int zmq_getsockopt(void *s, int option, void *v, size_t *n)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_getsockopt(s, option, v, n) : -1;
}

int zmq_bind(void *s, const char *addr)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_bind(s, addr) : -1;
}

int zmq_connect(void *s, const char *addr)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_connect(s, addr) : -1;
}

int zmq_send(void *s, const void *buf, size_t len, int flags)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_send(s, buf, len, flags) : -1;
}

int zmq_msg_init(zmq_msg_t *m)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_init(m) : -1;
}

int zmq_msg_recv(zmq_msg_t *m, void *s, int flags)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_recv(m, s, flags) : -1;
}

int zmq_msg_close(zmq_msg_t *m)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_close(m) : -1;
}

int zmq_msg_move(zmq_msg_t *dst, zmq_msg_t *src)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_move(dst, src) : -1;
}

void *zmq_msg_data(zmq_msg_t *m)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_data(m) : NULL;
}

size_t zmq_msg_size(const zmq_msg_t *m)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_size(m) : 0;
}

int zmq_msg_more(const zmq_msg_t *m)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_msg_more(m) : 0;
}

int zmq_poll(zmq_pollitem_t *items, int n, long timeout)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_poll(items, n, timeout) : -1;
}

const char *zmq_strerror(int e)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_strerror(e) : zmq_lazy.why;
}

int zmq_socket_monitor(void *s, const char *addr, int events)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_socket_monitor(s, addr, events) : -1;
}

int zmq_has(const char *capability)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_has(capability) : 0;
}

int zmq_curve_keypair(char *pub, char *sec)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_curve_keypair(pub, sec) : -1;
}

int zmq_curve_public(char *pub, const char *sec)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_curve_public(pub, sec) : -1;
}

uint8_t *zmq_z85_decode(uint8_t *dest, const char *s)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_z85_decode(dest, s) : NULL;
}

char *zmq_z85_encode(char *dest, const uint8_t *data, size_t size)
{
    return zmq_lazy_ready() ? zmq_lazy.zmq_z85_encode(dest, data, size) : NULL;
}

/* serve.c: mnist serve: a page to draw digits on, and a JSON API over the same preprocessing and
 * prediction as `mnist predict`, on libmicrohttpd.
 *
 *   GET  /             the page (web/index.html, built into the binary)
 *   POST /api/predict  an image file, or JSON {"pixels": [784 numbers]}, in; JSON
 *                      {"digit", "probabilities", "input"} out. ?drawn=1: the image is a drawing
 *                      (the page's): where the preprocessing is fashion, outline's instead
 *   GET  /api/model    {"layers", "activation", "dataset", "classes", "parameters", "preprocess"}
 *   GET  /healthz      {"status": "ok"}
 *
 * Errors are JSON {"error": "one line"} with 400, 404, 405, 413 or 503; the server goes on.
 * Threads: libmicrohttpd's pool, one epoll loop per thread, reads the requests and answers them; a
 * prediction runs on threads of serve's own (as many), its connection suspended meanwhile (predicting).
 * mnist_predict only reads the model and allocates its own scratch, so the threads share one model
 * (tests/test_predict_threads.c checks it). The listening socket is serve's
 * own, and one more thread accepts on it and hands each connection to the pool (MHD_add_connection):
 * libmicrohttpd 0.9.75's epoll mode could abort a stop (MHD_PANIC) when it owned the socket (cmd_serve
 * says how).
 */
#define _GNU_SOURCE /* accept4 */
#include <linux/tcp.h> /* TCP_INFO's tcpi_bytes_received, which glibc's netinet/tcp.h lacks */
#include <linux/sockios.h> /* SIOCOUTQ */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "blas.h"
#include "cli.h"
#include "util.h"
#include "team.h"

#define MAX_BODY (10u << 20)      /* request bodies over 10 MB get 413 */
#define MAX_JSON (1u << 20)       /* JSON bodies over 1 MB too: cJSON takes ~64 bytes a value */
#define BODY_BUDGET (256u << 20)  /* bodies held by all requests at once; past it, 503 */
/* Connections at once (--connections); past it, a new one waits in the listening socket's queue. One client
 * address (an IPv6 one's /64) may hold an eighth of them (--per-address), past it a new one is closed unanswered:
 * a browser opens 6, make bench-serve's wrk 64. */
#define CONNECTIONS 1024
#define OWN_FILES 32 /* files the server holds besides its connections: stdio, the listening socket, ... */
#define DECODE_BUDGET (1024u << 20) /* memory for decoding large images at once; past it, 503 */
#define DECODE_SMALL (128u << 20)   /* smaller decodes go ahead (a 12-megapixel photo's: 85 MB) */
/* Images whose decode takes less (a 500x500 photo's: 1.75 MB, 12 ms; the page's drawings, 0.7 MB) and JSON are
 * predicted on the thread that read them; larger ones on a predicting thread (predicting). Handed over, a drawing
 * cost the server 0.99 ms of CPU, not 0.78, and 1890 a second were answered, not 2400 (make bench-serve). */
#define PREDICT_HERE (2u << 20)
#define INITIAL_ROOM (64u << 10) /* body bytes held from a Content-Length before any arrive */
_Static_assert((uint64_t)CLI_MAX_CONNECTIONS * INITIAL_ROOM < BODY_BUDGET, "idle connections cannot fill the budget");
#define STOP_GRACE 5.0 /* seconds a stop waits for the requests under way to be answered */
/* A connection's requests (--keepalive-requests) and seconds from its accept (--keepalive-time), as nginx's
 * keepalive_requests and keepalive_time: the answer to the last says Connection: close, and the connection closes
 * after it. A client that asked without a pause kept one connection, and its thread, for ever. */
#define KEEPALIVE_REQUESTS 1000
#define KEEPALIVE_TIME 3600
#define ANSWER_CAP ((MNIST_PIXELS + MNIST_CLASSES) * 17 + 64) /* %.9g is at most 15 chars */

/* web/index.html, made into a C array by scripts/embed.sh at build time. */
extern const unsigned char web_index_html[];
extern const size_t web_index_html_len;

typedef enum { R_PAGE, R_HEALTH, R_MODEL, R_PREDICT } route_id;

static const struct {
    const char *path, *allow; /* allow: the methods, as the Allow header lists them */
} routes[] = {[R_PAGE] = {"/", "GET, HEAD"},
              [R_HEALTH] = {"/healthz", "GET, HEAD"},
              [R_MODEL] = {"/api/model", "GET, HEAD"},
              [R_PREDICT] = {"/api/predict", "POST"}};

typedef struct {
    mnist_model model;
    mnist_prep prep;
    char *model_json; /* the answer to GET /api/model */
    char *page;       /* the answer to GET /: web/index.html in the words of the model's dataset (make_page) */
    size_t page_len;
    int log;
    atomic_int started;     /* libmicrohttpd's messages: kept for the one line of a failed start, then --log */
    char mhd_msg[256];
    atomic_size_t buffered; /* bytes of request bodies held now, all requests together */
    atomic_size_t decoding; /* mnist_image_decode_bytes of the large images decoding now */
    /* The predictions waiting for a thread (predicting), first to come first; stop: answer those left 503. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queued;
    struct request *queue, *queue_tail;
    int queue_stop, predictors;
    pthread_t *predictor;
    atomic_int handed; /* requests handed to them and not yet ended (on_completed) */
    /* The listening socket and its accept thread (accept_loop). held: the connections accepted and not yet
     * closed, the records in conns; the thread accepts while there are fewer than limit (--connections). */
    struct MHD_Daemon *daemon;
    int listen_fd, limit, per_address, held, stopping;
    pthread_mutex_t lock; /* held, stopping */
    pthread_cond_t room;  /* held went down, or stopping up */
} server;

/* A connection, from its accept (accept_loop) to its close (libmicrohttpd's close notice), for what libmicrohttpd
 * does not tell: whether a request has begun on it before its first line is all in. The kernel's count of the
 * bytes the connection received (TCP_INFO) tells it: past the count when its last request was completed (mark),
 * the next one has begun. All connections are in one list, newest first, under conns_lock: a scan of them (a
 * stop's, --deadline's, an accept's at the limit of --per-address) reads it, an accept and a close notice change
 * it; libmicrohttpd closes a connection's socket only after its close notice, which takes the lock to write, so fd
 * is open while a scan holds it (but for a connection it drops before its start notice, out of memory, with no
 * notice at all: then the fd is closed, and its record goes within 0.1 s, drop_gone). A record's fields are under
 * its own lock, which the request's callbacks take alone, on the thread that frees the record: under the list's
 * lock they waited for each scan's getsockopt of every connection (1.2 ms each 0.1 s with 1000 connections, 4.4 ms
 * with 4000), every thread's requests stalled meanwhile. */
#define CLIENT_KEY 21 /* bytes of a client's key (client_key) */
typedef struct client client;
typedef struct conn {
    struct conn *prev, *next; /* under conns_lock */
    client *client;           /* its client, as --per-address counts them (under conns_lock) */
    pthread_mutex_t lock;     /* the fields below */
    MHD_socket fd;
    ino_t ino;     /* its socket's inode (fstat at its accept): fd is another file, or none, once it is closed */
    int started;   /* libmicrohttpd's start notice came */
    int busy;      /* a request's first line is in (on_begin) and the request is not completed */
    int in;        /* the request is all in, or answered before it was: --deadline no longer runs */
    int cut;       /* --deadline closed it: --log says so of its request, not that the client closed it */
    int gone;      /* its client closed it, unseen by libmicrohttpd (enforce_deadline): --log says client-closed */
    int scans;     /* the scans in a row that saw its client's end closed, all it sent read, no request all in */
    int requests;  /* its requests, from their first line (on_begin) */
    double opened; /* when it was accepted */
    uint64_t mark; /* bytes received when its last request was completed */
    uint64_t sent; /* bytes the server had written on it then (bytes_out; with --log only) */
    double start;  /* when its request's first byte was seen; 0: none yet */
    char path[80]; /* its request's target, quoted and cut short as --log writes it (on_begin, with --log only) */
} conn;

static pthread_rwlock_t conns_lock = PTHREAD_RWLOCK_INITIALIZER;
static conn *conns;
static int keepalive_requests = KEEPALIVE_REQUESTS, keepalive_time = KEEPALIVE_TIME; /* cmd_serve's flags */

/* The clients with connections open, each with its count of them, in a hash table by key, under conns_lock: an
 * accept finds its client's count at once. A scan of every connection for it took 20 us an accept with 4000 open,
 * under the lock that each connection's start notice takes too: with 4000 idle, a JSON prediction on a connection of
 * its own cost the server 0.25-0.28 ms, 0.23-0.24 now (0.20-0.22 with none idle), and a GET /healthz so 87-108 us,
 * 64-68 now (make bench-serve's --close --idle 4000; 2 cores, shared). */
struct client {
    client *next; /* in its bucket */
    int n;        /* its records in conns */
    unsigned char key[CLIENT_KEY];
};
#define CLIENT_BUCKETS 4096 /* as many as the connections at most (CLI_MAX_CONNECTIONS + 1) */
_Static_assert((CLIENT_BUCKETS & (CLIENT_BUCKETS - 1)) == 0, "a power of 2: a hash's bucket is its low bits");
static client *clients[CLIENT_BUCKETS];

/* Where the client of key is in clients, or would be: the pointer to it (FNV-1a's hash). */
static client **client_slot(const unsigned char *key) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < CLIENT_KEY; i++) h = (h ^ key[i]) * 16777619u;
    client **c = &clients[h & (CLIENT_BUCKETS - 1)];
    while (*c && memcmp((*c)->key, key, CLIENT_KEY)) c = &(*c)->next;
    return c;
}

/* Takes c out of clients once it has no connection (conns_lock held to write). */
static void client_release(client *c) {
    if (c->n) return;
    *client_slot(c->key) = c->next;
    free(c);
}

typedef struct request {
    route_id route;
    int head;          /* a HEAD request */
    int json;          /* the body is JSON (by Content-Type, or its first byte not white space) */
    int told;          /* json is settled: by Content-Type, or by a byte of the body not white space */
    int form;          /* Content-Type multipart/...: a form's upload, the file wrapped in its parts */
    int refused;       /* 413, 503 or GROW_NO_MEMORY, decided while the body streamed in */
    int answered;      /* the handler queued an answer: where not, a status is libmicrohttpd's own (a broken chunk) */
    size_t limit;      /* MAX_BODY, or MAX_JSON */
    uint8_t *body;
    size_t len, cap;   /* cap bytes are counted in server.buffered */
    size_t received;   /* body bytes read, kept or not */
    double start;
    /* a prediction, made on a predicting thread while its connection is suspended */
    struct request *next;     /* in the server's queue */
    struct MHD_Connection *c; /* its connection */
    MHD_socket fd;            /* its socket; -1 where libmicrohttpd does not say */
    int gone;                 /* its client closed its end before a predicting thread (or a stop) took it: unread */
    mnist_prep prep;          /* the preprocessing, ?drawn=1 told */
    size_t need;              /* the bytes its image's decode takes (mnist_image_decode_bytes); 0 for JSON */
    int ran;                  /* made: the handler's next call answers with status and out */
    unsigned status;
    char *out;      /* out_len bytes of JSON, an answer or {"error"}; NULL: out of memory (503) */
    size_t out_len;
} request;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* libmicrohttpd, loaded by serve alone: linked, it and the libraries it brings cost every command
 * 2-3 ms at its start (BENCHMARKS.md). Its functions, as microhttpd.h declares them. */
#define LIBMHD "libmicrohttpd.so.12"
static struct {
    struct MHD_Daemon *(*start_daemon)(unsigned flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *d);
    enum MHD_Result (*add_connection)(struct MHD_Daemon *d, MHD_socket fd, const struct sockaddr *addr,
                                      socklen_t addrlen);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *c, enum MHD_ConnectionInfoType type,
                                                           ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key);
    int (*get_connection_values)(struct MHD_Connection *c, enum MHD_ValueKind kind, MHD_KeyValueIterator it,
                                 void *it_cls);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header, const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r);
    void (*destroy_response)(struct MHD_Response *r);
    size_t (*http_unescape)(char *val);
    void (*suspend_connection)(struct MHD_Connection *c);
    void (*resume_connection)(struct MHD_Connection *c);
} mhd;

/* Loads libmicrohttpd's functions into mhd: 0, or 1 after the message. */
static int load_mhd(void) {
    static const char *const names[] = {"MHD_start_daemon", "MHD_stop_daemon", "MHD_add_connection",
                                        "MHD_get_connection_info",
                                        "MHD_lookup_connection_value", "MHD_get_connection_values",
                                        "MHD_create_response_from_buffer",
                                        "MHD_add_response_header", "MHD_queue_response", "MHD_destroy_response",
                                        "MHD_http_unescape", "MHD_suspend_connection", "MHD_resume_connection"};
    void **const slots[] = {(void **)&mhd.start_daemon, (void **)&mhd.stop_daemon, (void **)&mhd.add_connection,
                            (void **)&mhd.get_connection_info,
                            (void **)&mhd.lookup_connection_value, (void **)&mhd.get_connection_values,
                            (void **)&mhd.create_response_from_buffer,
                            (void **)&mhd.add_response_header, (void **)&mhd.queue_response,
                            (void **)&mhd.destroy_response, (void **)&mhd.http_unescape,
                            (void **)&mhd.suspend_connection, (void **)&mhd.resume_connection};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "a slot for each name");
    mnist_err err;
    if (load_library(LIBMHD, names, slots, (int)(sizeof names / sizeof names[0]), &err)) {
        cli_say(stderr, "mnist serve: %s: install libmicrohttpd12\n", err.msg);
        return 1;
    }
    return 0;
}

/* A URL's %XX escapes decoded in place, as libmicrohttpd's own unescaping does, but for a %00: decoded, it
 * ended the path there for the routes' strcmp, and /healthz%00 was /healthz. A URL holding one is left
 * as it came: no route has it (404, the path quoted as it was sent). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strstr(s, "%00") ? strlen(s) : mhd.http_unescape(s);
}

/* ---- connections ------------------------------------------------- */

/* The kernel's TCP_INFO of a connection, up to its field tcpi_bytes_received (Linux 4.1 on): 0, or -1. */
static int tcp_info(MHD_socket fd, struct tcp_info *ti) {
    socklen_t n = sizeof *ti;
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &n) ||
                   n < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti->tcpi_bytes_received
               ? -1
               : 0;
}

/* Bytes the kernel has received on a connection, all its requests together; 0 where it does not say. */
static uint64_t bytes_in(MHD_socket fd) {
    struct tcp_info ti;
    return tcp_info(fd, &ti) ? 0 : ti.tcpi_bytes_received;
}

/* Bytes the server has written on a connection, sent or still in its socket's buffer, all its answers together: the
 * kernel's count of those the client acknowledged, and SIOCOUTQ's of those it has not (a FIN counts one); 0 where
 * it does not say. */
static uint64_t bytes_out(MHD_socket fd) {
    struct tcp_info ti;
    int queued;
    return tcp_info(fd, &ti) || ioctl(fd, SIOCOUTQ, &queued) || queued < 0 ? 0 : ti.tcpi_bytes_acked + (uint64_t)queued;
}

/* Bytes received on a connection that libmicrohttpd has not read yet (SIOCINQ); 0 where the kernel does not say. */
static int unread(MHD_socket fd) {
    int n;
    return ioctl(fd, SIOCINQ, &n) || n < 0 ? 0 : n;
}

/* Whether the client has not closed its end of the connection (or the kernel does not say). 1: TCP_ESTABLISHED,
 * which netinet/tcp.h names, and it clashes with linux/tcp.h. */
static int open_both_ways(MHD_socket fd) {
    struct tcp_info ti;
    return tcp_info(fd, &ti) || ti.tcpi_state == 1;
}

/* Takes k out of conns (conns_lock held to write) and frees it: room for the accept thread. */
static void conn_drop(server *s, conn *k) {
    if (k->prev) k->prev->next = k->next;
    else conns = k->next;
    if (k->next) k->next->prev = k->prev;
    k->client->n--;
    client_release(k->client);
    pthread_mutex_destroy(&k->lock);
    free(k);
    pthread_mutex_lock(&s->lock);
    s->held--;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
}

static void log_unseen_answer(const server *s, conn *k);

/* libmicrohttpd's notices of a connection taken and closed: its record (made at its accept) is found by its
 * socket, and goes at the close. The newest record of that socket: one gone unannounced (conn_gone) may still hold
 * it for up to 0.1 s after another connection got it. A new record is first or near it: the scan takes 0.05 us with
 * 4000 connections. */
static void on_connection(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    conn *k = NULL;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        pthread_rwlock_rdlock(&conns_lock);
        for (k = ci ? conns : NULL; k && k->fd != ci->connect_fd; k = k->next) {}
        if (k) {
            pthread_mutex_lock(&k->lock);
            k->started = 1;
            pthread_mutex_unlock(&k->lock);
        }
        pthread_rwlock_unlock(&conns_lock);
        *ctx = k; /* only this connection's close notice takes it out now */
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && (k = *ctx)) {
        if (s->log) log_unseen_answer(s, k);
        pthread_rwlock_wrlock(&conns_lock);
        conn_drop(s, k);
        pthread_rwlock_unlock(&conns_lock);
        *ctx = NULL;
    }
}

/* Whether k's connection is gone unannounced (k->lock held, or conns_lock to write): libmicrohttpd 0.9.75, out of
 * memory for its pool (new_connection_process_), closes a connection handed to it before its start notice, and sends
 * no close notice. Its socket is closed then: fd is no file, or another one. A connection it announced is closed only
 * after its close notice, which takes its record out first. */
static int conn_gone(const conn *k) {
    struct stat st;
    return !k->started && (fstat(k->fd, &st) || st.st_ino != k->ino);
}

/* Held by the accept thread while it hands a connection to libmicrohttpd, and by drop_gone: MHD_add_connection
 * that fails closes the socket before it returns, and the accept thread then takes its record out; drop_gone,
 * seeing that socket closed meanwhile, took it out as well, and the record was freed twice (a segmentation
 * fault). Taken before conns_lock. */
static pthread_mutex_t handing_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes out the records of the connections gone unannounced: each kept its place in --connections and --per-address
 * until another connection got its fd (which an accept looked for), and once they filled --connections none came,
 * and the server took no new connection again. Run every 0.1 s; the list is locked to write only when one is
 * found. */
static void drop_gone(server *s) {
    int gone = 0;
    pthread_mutex_lock(&handing_lock);
    pthread_rwlock_rdlock(&conns_lock);
    for (conn *k = conns; k && !gone; k = k->next) {
        pthread_mutex_lock(&k->lock);
        gone = conn_gone(k);
        pthread_mutex_unlock(&k->lock);
    }
    pthread_rwlock_unlock(&conns_lock);
    if (gone) {
        pthread_rwlock_wrlock(&conns_lock);
        for (conn *k = conns, *next; k; k = next) {
            next = k->next;
            if (conn_gone(k)) conn_drop(s, k);
        }
        pthread_rwlock_unlock(&conns_lock);
    }
    pthread_mutex_unlock(&handing_lock);
}

/* The client of a connection from a, as --per-address counts it (key: CLIENT_KEY bytes, zero before): its family,
 * then an IPv4 address (4 bytes), or an IPv6 one (16), then an interface (4). An IPv6 client by its /64, a network's
 * smallest block, any of whose addresses a host on it may take (its hosts share it, as those behind one IPv4 router
 * share its address; a site given a /56 or /48 can still spread over its /64s); but where that /64 is not one
 * network's:
 * - a link-local client (fe80::/10) by its whole address and the interface it came on: every link's /64 is
 *   fe80::/64, and all the hosts on all the links counted as one;
 * - the loopback ::1 alone (this machine): its /64, ::/64, holds the IPv4-compatible and IPv4-mapped addresses;
 * - an IPv4 client in an IPv6 address, by that IPv4 address: IPv4-mapped (::ffff:0:0/96; every IPv4 client of
 *   --host ::, whose listening socket takes IPv4 too; Linux drops IPv6 packets from such an address), NAT64's and SIIT's
 *   well-known prefix (64:ff9b::/96: all of IPv4 in one /64), and Teredo (2001::/32), whose /64 is the Teredo
 *   server's, shared by all its clients, the client's own IPv4 address in its last 32 bits, inverted. */
static void client_key(unsigned char *key, const struct sockaddr_storage *a) {
    key[0] = (unsigned char)a->ss_family;
    if (a->ss_family == AF_INET) memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
    if (a->ss_family != AF_INET6) return;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
    const unsigned char *b = a6->sin6_addr.s6_addr;
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b}, teredo[4] = {0x20, 0x01, 0, 0};
    int mapped = IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) || !memcmp(b, nat64, sizeof nat64);
    int inverted = !memcmp(b, teredo, sizeof teredo);
    if (mapped || inverted) {
        key[0] = AF_INET;
        for (int i = 0; i < 4; i++) key[1 + i] = inverted ? (unsigned char)~b[12 + i] : b[12 + i];
    } else if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) {
        memcpy(key + 1, b, 16);
        memcpy(key + 17, &a6->sin6_scope_id, 4);
    } else {
        memcpy(key + 1, b, IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ? 16 : 8);
    }
}

/* Whether a new connection of client c is past --per-address (conns_lock held to write). The connections whose
 * client has closed its end do not count: their threads, busy, may not have read that end yet, and a client that
 * closed its connections and opened as many again had the new ones closed unanswered meanwhile (each run of make
 * bench-serve after the first, hundreds of its connections). */
static int past_per_address(server *s, const client *c) {
    if (c->n < s->per_address) return 0;
    int n = 0; /* at the limit: counted again, without those closed by their client */
    for (conn *o = conns; o; o = o->next) n += o->client == c && open_both_ways(o->fd);
    return n >= s->per_address;
}

/* The accept thread: takes a connection from the listening socket while fewer than --connections are open (past
 * it, a new one waits in the socket's queue), closes it unanswered past --per-address, and hands it to
 * libmicrohttpd, which puts it on one of its threads. Ends at a stop, whose shutdown() of the socket ends a
 * waiting accept. */
static void *accept_loop(void *arg) {
    server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && s->held >= s->limit) pthread_cond_wait(&s->room, &s->lock);
        int stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stop) return NULL;
        struct sockaddr_storage a;
        socklen_t n = sizeof a;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &n, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* out of files or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), a network error passed on, or the stop's
             * shutdown (EINVAL): tried again in a moment, not at once (a loop at full speed) */
            if (errno != EINTR && errno != ECONNABORTED)
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
            continue;
        }
        conn *k = calloc(1, sizeof *k);
        if (!k) { /* out of memory: refused */
            close(fd);
            continue;
        }
        struct stat st;
        k->fd = fd;
        k->ino = fstat(fd, &st) ? 0 : st.st_ino; /* fstat of a socket just made does not fail */
        k->opened = now();
        unsigned char key[CLIENT_KEY] = {0};
        client_key(key, &a);
        pthread_rwlock_wrlock(&conns_lock);
        client **slot = client_slot(key), *c = *slot;
        if (!c && (c = calloc(1, sizeof *c))) { /* its first connection */
            memcpy(c->key, key, CLIENT_KEY);
            *slot = c;
        }
        int past = c && past_per_address(s, c);
        if (!c || past) { /* out of memory, or past --per-address: refused */
            if (c) client_release(c);
            pthread_rwlock_unlock(&conns_lock);
            free(k);
            close(fd);
            if (past && s->log)
                fprintf(stderr, "closed a new connection unanswered: its address has %d open (--per-address)\n",
                        s->per_address);
            continue;
        }
        k->client = c;
        c->n++;
        pthread_mutex_init(&k->lock, NULL);
        if ((k->next = conns)) conns->prev = k;
        conns = k;
        pthread_mutex_lock(&s->lock);
        s->held++;
        pthread_mutex_unlock(&s->lock);
        pthread_rwlock_unlock(&conns_lock);
        pthread_mutex_lock(&handing_lock);
        if (mhd.add_connection(s->daemon, fd, (struct sockaddr *)&a, n) != MHD_YES) { /* closed, and no notices */
            pthread_rwlock_wrlock(&conns_lock);
            conn_drop(s, k);
            pthread_rwlock_unlock(&conns_lock);
        }
        pthread_mutex_unlock(&handing_lock);
    }
}

static conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connections whose request is under way: its first line in, or any of its bytes, as Go's http.Server
 * has it (a connection is active from the first byte of a request); a stop waits for them. Counted from the
 * first line alone, a connection that had sent a part of it was cut off at a stop. */
static int under_way(void) {
    int n = 0;
    pthread_rwlock_rdlock(&conns_lock);
    for (conn *k = conns; k; k = k->next) {
        pthread_mutex_lock(&k->lock);
        n += k->busy || bytes_in(k->fd) > k->mark;
        pthread_mutex_unlock(&k->lock);
    }
    pthread_rwlock_unlock(&conns_lock);
    return n;
}

/* Closes each connection whose request is not all in `deadline` s after its first byte (seen by this scan, every
 * 0.1 s, or at its first line): --timeout (libmicrohttpd's) closes a connection only once it sends nothing for
 * that long, and libmicrohttpd 0.9.75 sets no deadline for a request as a whole, so one that sent its first line,
 * headers or body a byte at a time, each just inside --timeout, held its place for ever. shutdown() wakes the
 * connection's thread, which reads the end of it and closes it; --log says how many. Run while serving, and
 * while a stop waits for the requests under way (it held a request past its deadline for the stop's 5 s).
 * Closes too, at once, each whose client closed its end with no request of it all in (part of one, or none after
 * the last), all it sent read (none left unread in two scans running): libmicrohttpd 0.9.75's edge-triggered epoll
 * takes a short read for all there is, and so missed a close that came with the last bytes, which held the
 * connection (and its place under --connections, and a stop) until --timeout, and --log said "timeout". */
static void enforce_deadline(int deadline, int log) {
    double t = now();
    int cut = 0;
    pthread_rwlock_rdlock(&conns_lock);
    for (conn *k = conns; k; k = k->next) {
        pthread_mutex_lock(&k->lock);
        struct tcp_info ti; /* bytes_in and open_both_ways, in one call */
        int known = tcp_info(k->fd, &ti) == 0;
        if (!k->in && !k->start && known && ti.tcpi_bytes_received > k->mark) k->start = t;
        if (known && ti.tcpi_state != 1 && k->started && !k->in && !k->gone && unread(k->fd) == 0) {
            if (++k->scans >= 2) shutdown(k->fd, SHUT_RDWR), k->gone = 1;
        } else {
            k->scans = 0;
        }
        if (!k->in && k->start && t - k->start > deadline) {
            shutdown(k->fd, SHUT_RDWR);
            k->in = k->cut = 1; /* once */
            cut++;
        }
        pthread_mutex_unlock(&k->lock);
    }
    pthread_rwlock_unlock(&conns_lock);
    if (cut && log)
        fprintf(stderr, "closed %d connection%s: a request not all in %d s after its first byte (--deadline)\n", cut,
                cut == 1 ? "" : "s", deadline);
}

/* The request on c is all in, or answered: the deadline no longer runs for it. */
static void request_in(struct MHD_Connection *c) {
    conn *k = conn_of(c);
    if (!k) return;
    pthread_mutex_lock(&k->lock);
    k->in = 1;
    pthread_mutex_unlock(&k->lock);
}

/* ---- answers -------------------------------------------------------- */

/* Whether the request on c is the last its connection may have: its --keepalive-requests, or past its
 * --keepalive-time. */
static int keepalive_over(struct MHD_Connection *c) {
    conn *k = conn_of(c);
    if (!k) return 0;
    pthread_mutex_lock(&k->lock);
    int over = k->requests >= keepalive_requests || now() - k->opened >= keepalive_time;
    pthread_mutex_unlock(&k->lock);
    return over;
}

/* body (len bytes, of the content type) as the answer to the request on c; allow: the Allow header's value (a 405),
 * or NULL; close: end the connection after it (a stop's answers; a request whose headers leave in doubt what
 * follows it, framing_error; the last of a connection's, keepalive_over, says so by itself). */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, void *body, size_t len,
                              enum MHD_ResponseMemoryMode mode, const char *allow, int close) {
    request_in(c); /* 413 from a Content-Length, 404, 405: answered before the body */
    struct MHD_Response *r = mhd.create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow) mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (interrupted || close || keepalive_over(c)) /* a stop's: the client knows not to send again */
        mhd.add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (!strncmp(type, "text/html", 9)) /* the page's own inline script and style, and this server only */
        mhd.add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'");
    enum MHD_Result ok = mhd.queue_response(c, status, r);
    mhd.destroy_response(r);
    return ok;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status, char *body, size_t len) {
    return answer(c, status, "application/json", body, len, MHD_RESPMEM_MUST_FREE, NULL, 0);
}

/* 503 out of memory, from a body that needs no allocation of ours (an error whose body could not be allocated
 * closed the connection unanswered); close as answer's */
static enum MHD_Result answer_no_memory(struct MHD_Connection *c, int close) {
    static const char body[] = "{\"error\":\"the server is out of memory; try again\"}\n";
    return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", (void *)body, sizeof body - 1,
                  MHD_RESPMEM_PERSISTENT, NULL, close);
}

/* {"error": msg} as a JSON body of *len bytes (malloc's); NULL where memory ran out. */
static char *error_body(const char *msg, size_t *len) {
    size_t cap = 6 * strlen(msg) + 16;
    char *body = malloc(cap);
    if (!body) return NULL;
    size_t k = (size_t)snprintf(body, cap, "{\"error\":");
    k += cli_json_string(body + k, cap - k - 2, msg);
    body[k++] = '}';
    body[k++] = '\n';
    *len = k;
    return body;
}

/* {"error": msg} with status; allow and close as answer's. */
static enum MHD_Result answer_message(struct MHD_Connection *c, unsigned status, const char *allow, int close,
                                      const char *msg) {
    size_t k;
    char *body = error_body(msg, &k);
    if (!body) return answer_no_memory(c, close);
    return answer(c, status, "application/json", body, k, MHD_RESPMEM_MUST_FREE, allow, close);
}

/* {"error": "..."} with status; allow is the Allow header of a 405, else NULL. */
__attribute__((format(printf, 4, 5))) static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned status,
                                                                          const char *allow, const char *fmt, ...) {
    char msg[MNIST_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return answer_message(c, status, allow, 0, msg);
}

/* A float as JSON: %.9g gives back the same float32 when read; 0 and 1, most of any input, fast;
 * null for NaN and infinities (cli_json_number). */
static size_t put_float(char *out, float v) {
    if (v == 0.0f) return (void)(out[0] = '0'), 1;
    if (v == 1.0f) return (void)(out[0] = '1'), 1;
    return strlen(cli_json_number(out, v, 9));
}

static size_t put_floats(char *out, const float *v, int n) {
    size_t k = 0;
    out[k++] = '[';
    for (int i = 0; i < n; i++) {
        if (i) out[k++] = ',';
        k += put_float(out + k, v[i]);
    }
    out[k++] = ']';
    return k;
}

/* ---- POST /api/predict ---------------------------------------------- */

/* {"pixels": [784 numbers in [0, 1]]} into x; 0, or -1 with err filled, or MNIST_NO_MEMORY. thing: what the model
 * reads ("digit", or "item" for Fashion-MNIST), said of blank pixels. */
static int parse_pixels(const uint8_t *body, size_t len, const char *thing, float *x, mnist_err *err) {
    const char *at = NULL; /* where parsing stopped: this thread's own, unlike cJSON_GetErrorPtr() */
    size_t stray = json_stray_control((const char *)body, len);
    if (stray < len) {
        snprintf(err->msg, sizeof err->msg, "the JSON body is malformed (a control character, 0x%02x, at byte %zu)",
                 body[stray], stray);
        return -1;
    }
    size_t deep = json_too_deep((const char *)body, len, CJSON_NESTING_LIMIT);
    if (deep < len) { /* cJSON's own refusal said it was malformed */
        snprintf(err->msg, sizeof err->msg, "the JSON body nests arrays and objects more than %d deep (at byte %zu)",
                 CJSON_NESTING_LIMIT, deep);
        return -1;
    }
    json_watch();
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, len, &at, 0);
    int rc = -1;
    if (!root && json_ran_out()) return MNIST_NO_MEMORY; /* it said the JSON was malformed */
    if (!root) {
        const char *b = (const char *)body;
        size_t off = at && at >= b && at <= b + len ? (size_t)(at - b) : 0;
        /* cJSON says the last byte for one past the end too ("{" was "near byte 0"): said to be the last */
        snprintf(err->msg, sizeof err->msg, "the JSON body is malformed (near byte %zu%s)", off,
                 off + 1 == len ? ", its last" : "");
        return -1;
    }
    /* one JSON value and nothing after it but white space */
    const char *end = (const char *)body + len;
    while (at && at < end && (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')) at++;
    if (at != end) {
        snprintf(err->msg, sizeof err->msg, "the JSON body has more after its value (at byte %zu)",
                 at ? (size_t)(at - (const char *)body) : len);
        goto done;
    }
    for (const char *p = (const char *)body, *num; (num = json_next_number(&p, end)) < end;)
        if (!json_number(num, (int)(p - num))) { /* 01, 1., -.5: cJSON took them */
            snprintf(err->msg, sizeof err->msg, "the JSON body is malformed (the number %.*s at byte %zu)",
                     p - num < 24 ? (int)(p - num) : 24, num, (size_t)(num - (const char *)body));
            goto done;
        }
    const cJSON *px = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "pixels") : NULL;
    if (!px || !cJSON_IsArray(px)) {
        snprintf(err->msg, sizeof err->msg,
                 "the JSON body needs \"pixels\": an array of %d numbers (28x28, row by row)", MNIST_PIXELS);
        goto done;
    }
    for (const cJSON *k = px->next; k; k = k->next) /* cJSON keeps every copy of a key; its lookup takes the first */
        if (k->string && strcmp(k->string, "pixels") == 0) {
            snprintf(err->msg, sizeof err->msg, "the JSON body has \"pixels\" twice; send it once");
            goto done;
        }
    /* what is in it, then how many, then their values: 28 rows of 28 are told the array is flat; [1, 2] its
     * count, not that its 2 is past 1 */
    int n = 0;
    for (const cJSON *v = px->child; v; v = v->next, n++)
        if (!cJSON_IsNumber(v)) {
            snprintf(err->msg, sizeof err->msg,
                     "pixels[%d] is not a number (\"pixels\" is one flat array of %d numbers, row by row)", n,
                     MNIST_PIXELS);
            goto done;
        }
    if (n != MNIST_PIXELS) {
        snprintf(err->msg, sizeof err->msg, "\"pixels\" holds %d number%s; it needs %d (28x28, row by row)", n,
                 n == 1 ? "" : "s", MNIST_PIXELS);
        goto done;
    }
    n = 0;
    double ink = 0; /* the pixels' sum */
    for (const cJSON *v = px->child; v; v = v->next, n++) {
        double d = v->valuedouble;
        if (!isfinite(d) || d < 0.0 || d > 1.0) {
            char num[32]; /* the fewest digits that give d back: %g wrote 1.0000001 as "1" */
            snprintf(num, sizeof num, "%g", d);
            for (int digits = 7; digits <= 17 && strtod(num, NULL) != d; digits++)
                snprintf(num, sizeof num, "%.*g", digits, d);
            snprintf(err->msg, sizeof err->msg, "pixels[%d] is %s; pixels are between 0 (background) and 1 (ink)",
                     n, num);
            goto done;
        }
        x[n] = (float)d;
        ink += x[n];
    }
    if (ink < 1) /* a blank input reads as some digit all the same */
        snprintf(err->msg, sizeof err->msg,
                 "the pixels hold no %s: their ink adds up to %g, less than one pixel's (1 is full ink)", thing, ink);
    else
        rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* Whether a decode taking `need` bytes may begin: a small one always; a large one when it is the
 * only one, or the large ones under way leave room for it in DECODE_BUDGET. A 500 KB PNG can decode
 * to a gigabyte; without this, each thread could hold one. */
static int decode_admit(server *s, size_t need) {
    if (need < DECODE_SMALL) return 1;
    size_t held = atomic_load(&s->decoding);
    do
        if (held && held + need > DECODE_BUDGET) return 0;
    while (!atomic_compare_exchange_weak(&s->decoding, &held, held + need));
    return 1;
}

/* The first value of the query's key "drawn" into *cls, the key's case as it is (docs/serve.md: exactly drawn=1); its
 * value NULL where it has none (?drawn). */
static enum MHD_Result drawn_argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    if (strcmp(key, "drawn")) return MHD_YES;
    *(const char **)cls = value;
    return MHD_NO; /* the first one, as the lookup took it */
}

/* q's answer: {"error": ...} with status (out NULL where memory ran out). */
__attribute__((format(printf, 3, 4))) static void result_error(request *q, unsigned status, const char *fmt, ...) {
    char msg[MNIST_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    q->status = status;
    q->out = error_body(msg, &q->out_len);
}

/* The prediction of q, all in, its need counted, into its status and out; on a predicting thread where it may take
 * long (an 8192x8192 PNG's decode: 5 s). */
static void predict_run(server *s, request *q) {
    float x[MNIST_PIXELS], prob[MNIST_CLASSES];
    mnist_err err;
    q->status = MHD_HTTP_SERVICE_UNAVAILABLE; /* out NULL: out of memory */
    q->out = NULL;
    if (q->form) { /* the image inside is not looked for: said plainly, not 'not a PNG, JPEG, ...' */
        result_error(q, MHD_HTTP_BAD_REQUEST,
                     "the body is a multipart form (curl -F, an HTML form): send the image file itself as the body "
                     "(curl --data-binary @FILE), or JSON {\"pixels\": [%d numbers]}", MNIST_PIXELS);
        return;
    }
    if (q->len == 0) {
        result_error(q, MHD_HTTP_BAD_REQUEST, "the body is empty: send an image file, or JSON {\"pixels\": [%d numbers]}",
                     MNIST_PIXELS);
        return;
    }
    size_t need = q->need;
    if (!decode_admit(s, need)) {
        result_error(q, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "the server is decoding other large images; try again (this one takes %.0f MB)", need / 1e6);
        return;
    }
    int bad = q->json ? parse_pixels(q->body, q->len, strcmp(s->model.dataset, "fashion") ? "digit" : "item", x, &err)
                      : mnist_image_prepare(q->body, q->len, "the uploaded image", q->prep, x, &err);
    if (need >= DECODE_SMALL) atomic_fetch_sub(&s->decoding, need);
    if (bad == MNIST_NO_MEMORY) return; /* it said 400, "the uploaded image: out of memory" */
    if (bad) {
        result_error(q, MHD_HTTP_BAD_REQUEST, "%s", err.msg);
        return;
    }
    float logp[MNIST_CLASSES];
    if (mnist_predict_log_on(&s->model, x, 1, MNIST_CPU, logp, &err)) /* of one input: out of memory only */
        return; /* it said 500, "out of memory for 1 inputs" */
    for (int i = 0; i < MNIST_CLASSES; i++) prob[i] = expf(logp[i]); /* mnist_predict's probabilities */
    if (!cli_all_finite(prob, MNIST_CLASSES)) { /* NaN: no digit to name (it named 0) */
        result_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     "the model gives no finite probabilities for this image (its sums overflow)");
        return;
    }
    int digit = mnist_argmax(logp, MNIST_CLASSES); /* as eval and predict: two probabilities can round to one */
    char *out = malloc(ANSWER_CAP);
    if (!out) return;
    size_t k = (size_t)sprintf(out, "{\"digit\":%d,\"probabilities\":", digit);
    k += put_floats(out + k, prob, MNIST_CLASSES);
    k += (size_t)sprintf(out + k, ",\"input\":");
    k += put_floats(out + k, x, MNIST_PIXELS);
    k += (size_t)sprintf(out + k, "}\n");
    q->status = MHD_HTTP_OK;
    q->out = out;
    q->out_len = k;
}

/* ---- predictions' threads ------------------------------------------- */

/* q's answer is made: its connection resumed, the handler's next call sends it (under libmicrohttpd's lock: what
 * this thread wrote is seen). */
static void prediction_made(request *q) {
    q->ran = 1;
    mhd.resume_connection(q->c);
}

/* Set on libmicrohttpd's thread while the handler closes a connection whose client left (prediction_gone) until its
 * completion: libmicrohttpd then says "Application reported internal error", which --log leaves out (mhd_log). */
static _Thread_local int closing_gone;

/* Whether q's client closed its end while q waited (it gave up): it reads no answer (libmicrohttpd, resumed, sends
 * none to one that closed its sending end alone); the handler closes the connection. Sets q->gone. */
static int prediction_gone(request *q) { return q->gone = q->fd != -1 && !open_both_ways(q->fd); }

/* q answered 503 unread: the stop came before a predicting thread took it (not answered where its client left). */
static void prediction_unread(request *q) {
    if (!prediction_gone(q))
        result_error(q, MHD_HTTP_SERVICE_UNAVAILABLE, "the server stopped before reading this image");
    prediction_made(q);
}

/* A prediction runs on a thread of these, not on libmicrohttpd's thread that read it: there, a large image's
 * decode held every other connection of that thread, and libmicrohttpd puts a new connection on a thread by its
 * socket's number, busy or not; a small image sent meanwhile waited for the large one, half the time (5 s here,
 * 20 s and more on a loaded machine). The handler suspends the connection and queues the request; the first
 * thread free takes it, and resumes the connection, whose handler then answers. At a stop, what is left in the
 * queue is answered 503 unread (predictions_stop): libmicrohttpd must not be stopped with a connection suspended. */
static void *predicting(void *arg) {
    server *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* Ctrl-C and SIGTERM are the main thread's */
    for (;;) {
        pthread_mutex_lock(&s->queue_lock);
        while (!s->queue && !s->queue_stop) pthread_cond_wait(&s->queued, &s->queue_lock);
        request *q = s->queue;
        if (q && !(s->queue = q->next)) s->queue_tail = NULL;
        pthread_mutex_unlock(&s->queue_lock);
        if (!q) return NULL; /* stopped */
        if (!prediction_gone(q)) predict_run(s, q); /* a decode (5 s for 8192x8192) no one reads held the next */
        prediction_made(q);
    }
}

/* Queues q, its connection suspended; once the queue is stopped (a request all in during the stop), answers it 503
 * unread at once: left suspended, nothing would resume it, and libmicrohttpd's stop aborts with one suspended. */
static void predictions_queue(server *s, request *q) {
    q->next = NULL;
    pthread_mutex_lock(&s->queue_lock);
    int stopped = s->queue_stop;
    if (!stopped) {
        if (s->queue_tail) s->queue_tail->next = q;
        else s->queue = q;
        s->queue_tail = q;
        pthread_cond_signal(&s->queued);
    }
    pthread_mutex_unlock(&s->queue_lock);
    if (stopped) prediction_unread(q);
}

/* Starts n predicting threads: 0, or an errno. */
static int predictions_start(server *s, int n) {
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queued, NULL);
    if (!(s->predictor = calloc((size_t)n, sizeof *s->predictor))) return ENOMEM;
    for (; s->predictors < n; s->predictors++) {
        int e = pthread_create(&s->predictor[s->predictors], NULL, predicting, s);
        if (e) return e;
    }
    return 0;
}

/* Answers the predictions still queued 503, and ends the predicting threads, each after the prediction it is
 * making (which may take long, as a stop of libmicrohttpd's threads did), its connection resumed. */
static void predictions_stop(server *s) {
    pthread_mutex_lock(&s->queue_lock);
    request *left = s->queue;
    s->queue = s->queue_tail = NULL;
    s->queue_stop = 1;
    pthread_cond_broadcast(&s->queued);
    pthread_mutex_unlock(&s->queue_lock);
    for (request *q = left, *next; q; q = next) {
        next = q->next;
        prediction_unread(q);
    }
    for (int i = 0; i < s->predictors; i++) pthread_join(s->predictor[i], NULL);
    free(s->predictor);
}

/* The answer predict_run made for q. */
static enum MHD_Result answer_result(struct MHD_Connection *c, request *q) {
    char *out = q->out;
    q->out = NULL;
    if (!out) return answer_no_memory(c, 0);
    return answer_json(c, q->status, out, q->out_len);
}

/* ---- requests ------------------------------------------------------- */

static void release(server *s, request *q) {
    atomic_fetch_sub(&s->buffered, q->cap);
    free(q->body);
    q->body = NULL;
    q->len = q->cap = 0;
}

#define GROW_NO_MEMORY 1 /* grow's refusal where realloc failed: 503 too, but said so */

/* Room for n more bytes of body; 0, or 413 / 503 as the status to refuse with, or GROW_NO_MEMORY.
 * len may be over limit: white space held before a '{' told that the body is JSON. */
static unsigned grow(server *s, request *q, size_t n) {
    if (q->len > q->limit || n > q->limit - q->len) return MHD_HTTP_CONTENT_TOO_LARGE;
    if (q->len + n <= q->cap) return 0;
    size_t cap = q->cap ? q->cap : INITIAL_ROOM;
    while (cap < q->len + n) cap *= 2;
    if (cap > q->limit) cap = q->limit;
    size_t more = cap - q->cap;
    if (atomic_fetch_add(&s->buffered, more) + more > BODY_BUDGET) {
        atomic_fetch_sub(&s->buffered, more);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    uint8_t *b = realloc(q->body, cap);
    if (!b) { /* it said the server was busy receiving other uploads */
        atomic_fetch_sub(&s->buffered, more);
        return GROW_NO_MEMORY;
    }
    q->body = b;
    q->cap = cap;
    return 0;
}

static enum MHD_Result refuse(struct MHD_Connection *c, const request *q, unsigned status) {
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        return answer_error(c, status, NULL, "the body is over the limit of %zu MB%s", q->limit >> 20,
                            q->json ? " for JSON" : "");
    if (status == GROW_NO_MEMORY) return answer_no_memory(c, 0);
    return answer_error(c, status, NULL, "the server is busy receiving other uploads; try again");
}

/* Whether a piece of a body starts, after white space, as JSON does: '{' (or '[', to say what is
 * wrong), 1; no image format starts so. 0 for any other byte, -1 for white space alone (the next
 * piece tells). */
static int starts_json(const char *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') return ch == '{' || ch == '[';
    }
    return -1;
}

/* A line of --log: the request's method and path, its status (a number; a word for one that got no answer,
 * unanswered's), the time since its start, and a note ("" or " (...)"). */
static void log_line(const server *s, const char *method, const char *url, const char *status, double start,
                     const char *note) {
    if (s->log) fprintf(stderr, "%s %s %s %.1f ms%s\n", method, url, status, 1e3 * (now() - start), note);
}

/* The statuses of libmicrohttpd's own answers that its messages told on this thread (mhd_log), oldest first, until a
 * request's line takes each: on_completed, where the handler saw the request (a Content-Length that is not a
 * number: its path is known), or log_unseen_answer (a request line refused: 414, 505). A connection's refusal and
 * its close are on its thread, the close after the message. One whose answer did not go out (its client reset the
 * connection first) is not taken at its close, so a take is of the newest, and drops those older: taken oldest
 * first, such a one was said of the next refusal on the thread, and each after it of the one before (a 505 said to be
 * a 414), for ever. REFUSALS_KEPT of them at most. */
#define REFUSALS_KEPT 16
static _Thread_local struct {
    unsigned status[REFUSALS_KEPT];
    int n;
} refusals;

static void refusal_told(unsigned status) {
    if (refusals.n == REFUSALS_KEPT) { /* the oldest goes */
        refusals.n--;
        memmove(refusals.status, refusals.status + 1, (size_t)refusals.n * sizeof refusals.status[0]);
    }
    refusals.status[refusals.n++] = status;
}

/* The newest status told on this thread that is status (0: any), taken out with those older than it; 0 where there
 * is none. */
static unsigned refusal_take(unsigned status) {
    for (int i = refusals.n - 1; i >= 0; i--) {
        unsigned st = refusals.status[i];
        if (status && st != status) continue;
        refusals.n -= i + 1;
        memmove(refusals.status, refusals.status + i + 1, (size_t)refusals.n * sizeof st);
        return st;
    }
    return 0;
}

/* At k's close (--log): the line of an answer written on it since its last request was completed, more than its FIN.
 * It is libmicrohttpd's to a request whose first line it refused (414 for one too long, 505 for a version other than
 * 1.0 and 1.1, 400 for one without a version): 0.9.75 calls neither the URI callback nor the completion notice of
 * such a request (its connection.c notifies a completion only where the handler or the URI callback was called), and
 * by the close notice it has destroyed the answer (MHD_CONNECTION_INFO_HTTP_STATUS is NULL there). So the kernel's
 * count of the bytes written tells that it answered, and its message the status (refusals); the method and the
 * target are not known. */
static void log_unseen_answer(const server *s, conn *k) {
    pthread_mutex_lock(&k->lock);
    double first = k->start;
    int unseen = bytes_out(k->fd) > k->sent + 1;
    pthread_mutex_unlock(&k->lock);
    if (!unseen) return;
    unsigned status = refusal_take(0);
    char number[16];
    snprintf(number, sizeof number, "%u", status);
    log_line(s, "-", "-", status ? number : "answered", first ? first : now(), " (libmicrohttpd's own answer)");
}

/* The same, of a status; cut: its answer went out in part only. */
static void log_request(const server *s, const char *method, const char *url, unsigned status, double start,
                        int cut) {
    char number[16];
    snprintf(number, sizeof number, "%u", status);
    log_line(s, method, url, number, start, cut ? " (cut short)" : "");
}

/* What --log says in place of the status of a request that got no answer (it said 0): why it ended. deadline:
 * --deadline closed its connection (which libmicrohttpd reads as the client's close); gone: its client closed or
 * reset it (enforce_deadline saw it, prediction_gone did, or the socket says so: libmicrohttpd says "error" of a
 * reset it reads as one). */
static const char *unanswered(enum MHD_RequestTerminationCode why, int deadline, int gone) {
    if (deadline) return "deadline";
    if (gone) return "client-closed";
    switch (why) {
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: /* the client closed the connection (mid-body, say) */
    case MHD_REQUEST_TERMINATED_READ_ERROR:   /* or reset it */
        return "client-closed";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout"; /* silent for --timeout */
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "stopped"; /* a stop's 5 s ran out */
    default: return "error";
    }
}

/* The headers that say where a request's body ends, and its Host headers, counted by framing_header. */
typedef struct {
    int lengths, encodings; /* Content-Length and Transfer-Encoding headers */
    int hosts;              /* Host headers */
    const char *host;       /* the first Host's value */
    const char *encoding;   /* the first Transfer-Encoding's value */
    const char *misnamed;   /* the first header name that is not a token ('Content-Length ', 'Content-Length\v') */
} framing;

/* Whether s is a token (RFC 9110 5.6.2), as a header's name must be: one or more letters, digits and !#$%&'*+-.^_`|~ */
static int is_token(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    framing *f = cls;
    (void)kind;
    if (!f->misnamed && !is_token(key)) f->misnamed = key;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) f->lengths++;
    if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) && !f->encodings++) f->encoding = value ? value : "";
    if (!strcasecmp(key, MHD_HTTP_HEADER_HOST) && !f->hosts++) f->host = value ? value : "";
    return MHD_YES;
}

/* Whether h is a Host header's value as RFC 9112 3.2 and RFC 3986 3.2.2 write it: a name, an IPv4 address or an
 * IP literal in brackets, then perhaps a colon and a port's digits; the name's characters are unreserved, sub-delims
 * or %XX, those of a literal the same or colons (empty is a valid name). */
static int host_valid(const char *h) {
    static const char name[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=";
    int literal = *h == '[';
    if (literal) h++;
    for (; *h && *h != (literal ? ']' : ':'); h++) {
        if (*h == '%') {
            if (!isxdigit((unsigned char)h[1]) || !isxdigit((unsigned char)h[2])) return 0;
            h += 2;
        } else if (!strchr(name, *h) && !(literal && *h == ':'))
            return 0;
    }
    if (literal && *h++ != ']') return 0;
    if (*h == ':') h++;
    else if (*h) return 0;
    while (isdigit((unsigned char)*h)) h++;
    return !*h;
}

/* Whether the headers of the request on c leave in doubt where its body ends, or which host it is for: 1 with
 * msg filled, or 0.
 * libmicrohttpd 0.9.75 reads the body by the first of two Content-Lengths, and by the Transfer-Encoding of a request
 * that has a Content-Length too, and keeps the connection, where a proxy in front may have read the body by the other:
 * the bytes it passed on as a body were read here as the next request (request smuggling; RFC 9112 6.3 makes it an
 * error the connection cannot recover from, answered 400 and closed). A Transfer-Encoding other than chunked alone
 * (gzip) left the body without an end, read until the client closed; HTTP/1.0 has no Transfer-Encoding. A header
 * name that is not a token is refused too: white space between it and its colon (RFC 9112 5.1), a folded header
 * line, or another character a name cannot hold (a vertical tab or a form feed, which a proxy may trim as white
 * space: 'Content-Length\v: 34' was kept here as a name of its own, and the body it gave was the next request).
 * An HTTP/1.1 request without a Host header, or any with two or with one whose value is not a host, is refused too,
 * as RFC 9112 3.2 asks (it was answered 200). */
static int framing_error(struct MHD_Connection *c, const char *version, char *msg, size_t cap) {
    framing f = {0};
    mhd.get_connection_values(c, MHD_HEADER_KIND, framing_header, &f);
    if (f.misnamed) /* libmicrohttpd kept 'Content-Length ' as a name of its own, unread, where a proxy may read
                     * it; a line begun with a space (folded) it joins to the name before ('HostContent-Length: 5') */
        snprintf(msg, cap, "the header name '%.40s' holds white space or another character a name cannot hold "
                 "(before its colon, or a line begun with a space); send none", f.misnamed);
    else if (f.lengths > 1)
        snprintf(msg, cap, "the request has %d Content-Length headers; send one", f.lengths);
    else if (f.lengths && f.encodings)
        snprintf(msg, cap, "the request has both Content-Length and Transfer-Encoding; send one of them");
    else if (f.encodings > 1)
        snprintf(msg, cap, "the request has %d Transfer-Encoding headers; send one, chunked", f.encodings);
    else if (f.encodings && !strcmp(version, MHD_HTTP_VERSION_1_0))
        snprintf(msg, cap, "an HTTP/1.0 request has no Transfer-Encoding; send the body with a Content-Length");
    else if (f.encodings && strcasecmp(f.encoding, "chunked"))
        snprintf(msg, cap, "Transfer-Encoding '%.40s' is not one this server reads; send the body chunked, or with "
                 "a Content-Length", f.encoding);
    else if (f.hosts > 1 || (!f.hosts && strcmp(version, MHD_HTTP_VERSION_1_0))) /* RFC 9112 3.2: a 400, both (1.2
                                                                                      * to 1.9 are served as 1.1) */
        snprintf(msg, cap, "the request has %d Host headers; send one, as RFC 9112 asks", f.hosts);
    else if (f.hosts && !host_valid(f.host))
        snprintf(msg, cap, "the Host header '%.60s' is not a host name or address and perhaps a port, as RFC 9112 "
                 "asks", f.host);
    else
        return 0;
    return 1;
}

/* A request's state from its first line to the handler's first call (once its headers are in); then, where the
 * handler answered at that call and --log has its line already (400 for its framing, 404, 405), early. */
static char begun, early;

/* libmicrohttpd's call once a request's first line is in, before its headers (on_completed ends the request,
 * whatever becomes of it). */
static void *on_begin(void *cls, const char *uri, struct MHD_Connection *c) {
    const server *s = cls;
    conn *k = conn_of(c);
    if (k) {
        pthread_mutex_lock(&k->lock);
        k->busy = 1;
        k->requests++;
        if (!k->start) k->start = now();
        if (s->log) cli_json_string(k->path, sizeof k->path, uri); /* for libmicrohttpd's own refusals */
        pthread_mutex_unlock(&k->lock);
    }
    return &begun;
}

/* The path of a request's target: of an absolute-form one (GET http://HOST[:PORT]/PATH, RFC 9112 3.2.2, as a
 * proxy sends it), its path ("/" where it has none); it was answered 404, no such path. url itself otherwise, and
 * where the host is empty or a fragment follows it. */
static const char *target_path(const char *url) {
    size_t scheme = !strncasecmp(url, "http://", 7) ? 7 : !strncasecmp(url, "https://", 8) ? 8 : 0;
    if (!scheme) return url;
    const char *p = url + scheme + strcspn(url + scheme, "/?#");
    if (p == url + scheme || *p == '#') return url; /* no host (RFC 9110 4.2.1), or a fragment: no path of ours */
    return *p == '/' ? p : "/";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **state) {
    server *s = cls;
    request *q = *state;
    if (q == (void *)&early) return MHD_NO; /* answered: libmicrohttpd makes no more calls (a second queue fails) */
    if (q == (void *)&begun) { /* first call: headers only */
        /* for --log and the refusals: the path quoted and cut short if long, the method too (the client's
         * bytes: no terminal escapes into --log) */
        char why[MNIST_ERR_LEN], path[80], name[24];
        cli_json_string(path, sizeof path, url);
        cli_json_string(name, sizeof name, method);
        *state = &early; /* until it is one of the routes' requests */
        if (framing_error(c, version, why, sizeof why)) { /* answered early, and the connection closed */
            log_request(s, name, path, MHD_HTTP_BAD_REQUEST, now(), 0);
            return answer_message(c, MHD_HTTP_BAD_REQUEST, NULL, 1, why);
        }
        int r = 0, nroutes = (int)(sizeof routes / sizeof routes[0]);
        while (r < nroutes && strcmp(target_path(url), routes[r].path)) r++;
        if (r == nroutes) {
            char paths[128] = ""; /* every route's: "/, /healthz, /api/model or /api/predict" */
            for (int i = 0; i < nroutes; i++)
                snprintf(paths + strlen(paths), sizeof paths - strlen(paths), "%s%s",
                         i == 0 ? "" : i + 1 < nroutes ? ", " : " or ", routes[i].path);
            log_request(s, name, path, MHD_HTTP_NOT_FOUND, now(), 0);
            return answer_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such path: %s (try %s)", path, paths);
        }
        int post = r == R_PREDICT;
        if (post ? strcmp(method, "POST") : strcmp(method, "GET") && strcmp(method, "HEAD")) {
            log_request(s, name, path, MHD_HTTP_METHOD_NOT_ALLOWED, now(), 0);
            return answer_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, routes[r].allow, "%s takes %s, not %s", url,
                                routes[r].allow, name);
        }
        if (!(q = calloc(1, sizeof *q))) { /* it closed the connection unanswered */
            log_request(s, name, path, MHD_HTTP_SERVICE_UNAVAILABLE, now(), 0);
            return answer_no_memory(c, 0);
        }
        q->route = (route_id)r;
        q->head = !strcmp(method, "HEAD");
        q->limit = MAX_BODY;
        q->start = now();
        *state = q;
        if (post) {
            const char *type = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            const char *length = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            q->json = q->told = type && !strncasecmp(type, "application/json", 16);
            q->form = type && !strncasecmp(type, "multipart/", 10);
            if (q->json) q->limit = MAX_JSON;
            if (length) { /* refuse from the header, before any of the body is read */
                char *end;
                unsigned long long n = strtoull(length, &end, 10);
                /* room for the first 64 KB of it, grown as the rest comes: a client that says 10 MB and
                 * sends nothing holds 64 KB of BODY_BUDGET, and the default 1024 of them 64 MB of its 256
                 * (with 1 MB each, 257 idle connections made every upload a 503) */
                size_t room = n < INITIAL_ROOM ? (size_t)n : INITIAL_ROOM;
                unsigned st = n > q->limit ? MHD_HTTP_CONTENT_TOO_LARGE : n ? grow(s, q, room) : 0;
                q->answered = st != 0;
                if (st) return refuse(c, q, st);
            }
        }
        return MHD_YES;
    }
    if (*size) { /* a piece of the body */
        q->received += *size;
        if (q->route != R_PREDICT || q->refused) {
            /* dropped: libmicrohttpd answers only once the request is in; past twice the limit, hang up */
            *size = 0;
            return q->received > 2 * (size_t)MAX_BODY ? MHD_NO : MHD_YES;
        }
        if (!q->told) { /* white space first may come as a piece of its own (a chunk, a packet) */
            int json = starts_json(data, *size);
            q->told = json >= 0;
            if (json == 1) {
                q->json = 1;
                q->limit = MAX_JSON;
            }
        }
        unsigned st = grow(s, q, *size);
        if (st) {
            q->refused = (int)st;
            release(s, q);
            *size = 0;
            return MHD_YES;
        }
        memcpy(q->body + q->len, data, *size);
        q->len += *size;
        *size = 0;
        return MHD_YES;
    }
    /* the whole request is in */
    request_in(c);
    q->answered = 1;
    switch (q->route) {
    case R_PAGE:
        return answer(c, MHD_HTTP_OK, "text/html; charset=utf-8", s->page, s->page_len,
                      MHD_RESPMEM_PERSISTENT, NULL, 0);
    case R_HEALTH: {
        static const char ok[] = "{\"status\":\"ok\"}\n";
        return answer(c, MHD_HTTP_OK, "application/json", (void *)ok, sizeof ok - 1, MHD_RESPMEM_PERSISTENT, NULL, 0);
    }
    case R_MODEL:
        return answer(c, MHD_HTTP_OK, "application/json", s->model_json, strlen(s->model_json),
                      MHD_RESPMEM_PERSISTENT, NULL, 0);
    case R_PREDICT: {
        if (q->refused) return refuse(c, q, (unsigned)q->refused);
        if (q->ran && q->gone) return closing_gone = 1, MHD_NO; /* the call after its resume: no one to answer */
        if (q->ran) return answer_result(c, q);
        /* a drawing of an item is its outline, where a photo shows it solid */
        const char *drawn = NULL; /* the key "drawn" as it is: libmicrohttpd's lookup took ?DRAWN=1 too */
        mhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND, drawn_argument, &drawn);
        q->prep = s->prep == MNIST_PREP_FASHION && drawn && !strcmp(drawn, "1") ? MNIST_PREP_OUTLINE : s->prep;
        /* mnist_image_prepare reads the header again (mnist.h has no prepare that takes a checked
         * header); it costs about 1% of a prepare (0.03 ms of a 5.8 ms JPEG, less for a PNG; a JPEG's
         * walk over its scans, 4.4 ms of 288 ms for a 3000x4000 photo of 2.4 MB, 5.4 of 471 progressive) */
        q->need = q->json ? 0 : mnist_image_decode_bytes(q->body, q->len, q->prep);
        if (q->need < PREDICT_HERE) {
            predict_run(s, q);
            return answer_result(c, q);
        }
        q->c = c;
        const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        q->fd = ci ? ci->connect_fd : -1;
        atomic_fetch_add(&s->handed, 1);
        mhd.suspend_connection(c); /* before the queue: a thread may resume it at once */
        predictions_queue(s, q);
        return MHD_YES;
    }
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    server *s = cls;
    request *q = *state;
    closing_gone = 0;
    if (!q) return;
    *state = NULL;
    conn *k = conn_of(c);
    int deadline = 0, gone = 0; /* --deadline closed it; its client did */
    double first = 0;  /* its first byte */
    char path[sizeof k->path] = "\"\""; /* of a request the handler did not see: on_begin's */
    if (k) {
        pthread_mutex_lock(&k->lock);
        deadline = k->cut;
        gone = k->gone || (why == MHD_REQUEST_TERMINATED_WITH_ERROR && !open_both_ways(k->fd));
        first = k->start;
        if (q == (void *)&begun) memcpy(path, k->path, sizeof path);
        pthread_mutex_unlock(&k->lock);
    }
    int handled = q != (void *)&begun && q != (void *)&early; /* its handler ran, and it is a route's request */
    if (s->log && q != (void *)&early) { /* an early one's line is written */
        /* a request the handler did not see (its state still begun) is one that libmicrohttpd refused (a
         * Content-Length that is not a number), or that got no answer; its method is told to the handler alone */
        const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        unsigned status = ci ? ci->http_status : 0u;
        char number[16];
        snprintf(number, sizeof number, "%u", status);
        int own = status && !(handled && q->answered);
        const char *note = own ? " (libmicrohttpd's own answer)"
                           : status && why != MHD_REQUEST_TERMINATED_COMPLETED_OK ? " (cut short)"
                                                                                  : "";
        if (own) refusal_take(status); /* its message's: said here */
        log_line(s, !handled ? "-" : q->route == R_PREDICT ? "POST" : q->head ? "HEAD" : "GET",
                 handled ? routes[q->route].path : path,
                 status ? number : unanswered(why, deadline, gone || (handled && q->gone)),
                 handled ? q->start : first ? first : now(), note);
    }
    int was_handed = handled && q->c;
    if (handled) {
        release(s, q);
        free(q->out);
        free(q);
    }
    if (k) { /* the bytes of its next request come past this count */
        pthread_mutex_lock(&k->lock);
        k->busy = k->in = k->cut = k->gone = k->scans = 0;
        k->start = 0;
        k->mark = bytes_in(k->fd);
        if (s->log) k->sent = bytes_out(k->fd); /* its answer, if any, is all written */
        pthread_mutex_unlock(&k->lock);
    }
    /* last: a stop that saw none handed left counts the requests under way at once, this one no more among them */
    if (was_handed) atomic_fetch_sub(&s->handed, 1);
}

/* ---- the command ---------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    if (atomic_load(&s->started)) {
        if (!s->log) return;
        va_list copy;
        va_copy(copy, ap);
        char head[64]; /* the status of an answer of libmicrohttpd's own, for its line (refusals) */
        unsigned status;
        vsnprintf(head, sizeof head, fmt, copy);
        va_end(copy);
        if (sscanf(head, "Error processing request (HTTP response code is %u", &status) == 1) refusal_told(status);
        if (closing_gone && !strncmp(head, "Application reported internal error", 35)) return; /* not an error */
        vfprintf(stderr, fmt, ap);
        return;
    }
    vsnprintf(s->mhd_msg, sizeof s->mhd_msg, fmt, ap);
    s->mhd_msg[strcspn(s->mhd_msg, "\n")] = '\0';
}

/* Whether a is this machine's loopback (127.0.0.0/8, ::1, or 127.x.y.z mapped to IPv6), which no other reaches:
 * the note that others may reach the server was said of 127.0.0.2 and 127.1. */
static int loopback(const struct sockaddr *a) {
    if (a->sa_family == AF_INET) return ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24 == 127;
    if (a->sa_family != AF_INET6) return 0;
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

/* item added to array; where either is missing (out of memory), item is freed (it leaked) */
static void add_item(cJSON *array, cJSON *item) {
    if (!array || !item || !cJSON_AddItemToArray(array, item)) cJSON_Delete(item);
}

/* The answer to GET /api/model, or NULL when out of memory. */
static char *describe_model(const mnist_model *m, const char *prep) {
    json_watch();
    cJSON *o = cJSON_CreateObject(), *layers = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; i <= m->nlayers; i++) add_item(layers, cJSON_CreateNumber(m->sizes[i]));
    cJSON_AddStringToObject(o, "activation", m->activation);
    cJSON_AddStringToObject(o, "dataset", m->dataset);
    cJSON_AddNumberToObject(o, "parameters", (double)m->nparams);
    const mnist_dataset *ds = mnist_dataset_get(m->dataset);
    if (ds) { /* cmd_serve refuses a model of another */
        cJSON *cl = cJSON_AddArrayToObject(o, "classes");
        for (int i = 0; i < MNIST_CLASSES; i++) add_item(cl, cJSON_CreateString(ds->classes[i]));
    }
    cJSON_AddStringToObject(o, "preprocess", prep);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json_ran_out()) free(s), s = NULL; /* a part left out */
    return s;
}

/* What the page asks for, said of a Fashion-MNIST model's items, not digits: each FROM in the page,
 * in order, becomes its TO. */
static const struct {
    const char *from, *to;
} fashion_words[] = {
    {"Draw a digit</h1>", "Draw an item (a piece of clothing, a shoe or a bag)</h1>"},
    {"a digit", "an item"}, /* the title, the hint on the pad, the status line (Clear sets it again) */
    {"one digit", "one item"},
};

/* text with each FROM in it made TO, in new memory; NULL when out of memory. */
static char *replace_all(const char *text, const char *from, const char *to) {
    size_t nf = strlen(from), nt = strlen(to), n = 0;
    for (const char *p = text; (p = strstr(p, from)); p += nf) n++;
    char *out = malloc(strlen(text) + n * nt + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = text, *q; *p; p = q + nf) {
        if (!(q = strstr(p, from))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(q - p)), o += q - p;
        memcpy(o, to, nt), o += nt;
    }
    *o = '\0';
    return out;
}

/* s->page: web/index.html for a model of digits; for Fashion-MNIST, with fashion_words in it. 0, or
 * -1 when out of memory. */
static int make_page(server *s) {
    int n = strcmp(s->model.dataset, "fashion") ? 0 : (int)(sizeof fashion_words / sizeof fashion_words[0]);
    s->page = strdup((const char *)web_index_html);
    for (int i = 0; s->page && i < n; i++) {
        char *t = replace_all(s->page, fashion_words[i].from, fashion_words[i].to);
        free(s->page);
        s->page = t;
    }
    if (!s->page) return -1;
    s->page_len = strlen(s->page);
    return 0;
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *prep_name = NULL;
    int port = 8000, threads = 0, timeout = 10, deadline = 60, connections = CONNECTIONS, per_address = -1, log = 0;
    int keep_requests = KEEPALIVE_REQUESTS, keep_time = KEEPALIVE_TIME;
    const flag flags[] = {
        {"--model", F_STR, &model, "FILE", "the model (safetensors), required"},
        {"--host", F_STR, &host, "HOST", "address to listen on, an IPv6 one bare or in brackets (default 127.0.0.1: this machine only)"},
        {"--port", F_INT, &port, "N", "port (default 8000; 0: any free one)"},
        {"--preprocess", F_STR, &prep_name, "P",
         "mnist (default: as MNIST was made), lab (the lab's load_image), fashion (as Fashion-MNIST was made; "
         "default for a Fashion-MNIST model, the page's drawings as outline) or outline (an item drawn as its outline, "
         "what its strokes close filled)"},
        {"--threads", F_INT, &threads, "N",
         "threads reading and answering requests, and as many making predictions, at most 256 (default 0: one "
         "per core, at most 64)"},
        {"--timeout", F_INT, &timeout, "S", "close a connection idle for S seconds (default 10)"},
        {"--deadline", F_INT, &deadline, "S",
         "close a connection whose request (headers and body) is not all in S seconds after its first byte "
         "(default 60)"},
        {"--connections", F_INT, &connections, "N",
         "connections at once; past it, a new one waits until one closes (default 1024, at most 4095)"},
        {"--per-address", F_INT, &per_address, "N",
         "connections from one client address (IPv6: its /64, but for link-local, ::1 and IPv4 in IPv6) "
         "at once (default: an eighth of --connections; behind a proxy, all come from its address)"},
        {"--keepalive-requests", F_INT, &keep_requests, "N",
         "requests one connection may make; the answer to the last says Connection: close (default 1000)"},
        {"--keepalive-time", F_INT, &keep_time, "S",
         "seconds one connection may make requests, from its start; the first answer past them says Connection: "
         "close (default 3600)"},
        {"--log", F_BOOL, &log, NULL,
         "print to stderr a line per request, per connection closed by --deadline or --per-address, and "
         "libmicrohttpd's messages"},
        {0}};
    int p = cli_parse("serve", "--model FILE [flags]",
                      "Serve a page to draw digits on and watch the model read them, with a JSON API: POST "
                      "/api/predict (an image, or {\"pixels\": [784 numbers]}), GET /api/model, GET /healthz.",
                      flags, argc, argv, NULL);
    if (p) return p == 1 ? 0 : 2;
    if (!model) {
        cli_say(stderr, "mnist serve: --model FILE is required (see 'mnist serve --help')\n");
        return 2;
    }
    mnist_prep prep = MNIST_PREP_MNIST;
    if (prep_name && cli_prep("serve", prep_name, "mnist", &prep, &prep_name)) return 2; /* before the model */
    /* --timeout, --deadline and --connections: at least 1, as cli.c's ranges hold them */
    if (per_address > connections) { /* -1: not given */
        cli_say(stderr, "mnist serve: --per-address must be between 1 and --connections (%d)\n", connections);
        return 2;
    }
    if (load_mhd()) return 1;
    if (threads == 0) { /* one per core, at most 64, as --help says; --threads N may ask for up to 256 */
        int n = team_cores();
        threads = n > 64 ? 64 : n;
    }

    static server s; /* static: the threads reach it until MHD_stop_daemon returns */
    mnist_err err;
    if (!prep_name || prep == MNIST_PREP_MNIST) blas_preload(); /* a photo's fits need it (image.c), as predict */
    if (mnist_model_load(&s.model, model, &err)) {
        cli_say(stderr, "mnist serve: %s\n", err.msg);
        return 1;
    }
    int rc = 1; /* from here on, the model is freed at fail */
    if (s.model.sizes[0] != MNIST_PIXELS || s.model.sizes[s.model.nlayers] != MNIST_CLASSES) {
        int nin = s.model.sizes[0], nout = s.model.sizes[s.model.nlayers];
        cli_say(stderr, "mnist serve: %s: the model maps %d input%s to %d output%s; images need %d to %d\n", model,
                nin, nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s", MNIST_PIXELS, MNIST_CLASSES);
        goto fail;
    }
    if (cli_unknown_dataset("serve", model, &s.model, "")) goto fail; /* as eval and predict refuse it */
    if (!prep_name) cli_prep("serve", NULL, s.model.dataset, &prep, &prep_name); /* the dataset's own */
    s.prep = prep;
    if (prep == MNIST_PREP_MNIST && blas_load(&err)) { /* every image's preparation needs it (image.c) */
        cli_say(stderr, "mnist serve: %s\n", err.msg);
        goto fail;
    }
    s.log = log;
    keepalive_requests = keep_requests;
    keepalive_time = keep_time;
    atomic_init(&s.buffered, 0);
    atomic_init(&s.started, 0);
    if (!(s.model_json = describe_model(&s.model, prep_name)) || make_page(&s)) {
        cli_say(stderr, "mnist serve: out of memory\n");
        goto fail;
    }
    /* Room for the connections among the files the process may open, besides a pair a thread (its epoll
     * set and its channel from the others, an eventfd) and OWN_FILES: with a soft limit below it (ulimit -n:
     * 1024 in many shells and services), libmicrohttpd stopped accepting at the limit, and every new client
     * waited unanswered, other addresses too, the limit of connections an address takes no help. The soft
     * limit is raised to what is needed, up to the hard one, as Go's runtime does; below that, fewer
     * connections are taken, and a note says so. */
    int asked = connections;
    rlim_t own = OWN_FILES + 2 * (rlim_t)threads, need = own + (rlim_t)connections;
    struct rlimit nofile;
    if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < need) {
        nofile.rlim_cur = nofile.rlim_max < need ? nofile.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &nofile)) getrlimit(RLIMIT_NOFILE, &nofile);
        if (nofile.rlim_cur < need) {
            if (nofile.rlim_cur <= own) {
                cli_say(stderr, "mnist serve: the limit of open files (ulimit -n) is %llu; %d threads need over %llu\n",
                        (unsigned long long)nofile.rlim_cur, threads, (unsigned long long)own);
                goto fail;
            }
            connections = (int)(nofile.rlim_cur - own);
        }
    }
    if (per_address == -1) per_address = connections / 8 ? connections / 8 : 1;
    if (per_address > connections) per_address = connections;
    /* an IPv6 address as a URL writes it, in brackets ([::1], as the line below prints it): the address alone */
    char bare[256];
    size_t hl = strlen(host);
    if (hl >= 2 && hl < sizeof bare + 2 && host[0] == '[' && host[hl - 1] == ']') {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = '\0';
        host = bare;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo *ai = NULL, hints = {.ai_family = AF_UNSPEC,
                                         .ai_socktype = SOCK_STREAM,
                                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int gai = getaddrinfo(host, service, &hints, &ai);
    if (gai) { /* "0.0.0.0:8000", "http://localhost", "[::1]:80": a port or a URL where an address goes */
        int url = strchr(host, '/') || strchr(host, ':'); /* an IPv6 address that failed too: the hint holds */
        cli_say(stderr, "mnist serve: --host '%s': %s%s\n", host, gai_strerror(gai),
                url ? " (--host takes an address or a name alone, as 0.0.0.0, ::1 or localhost; the port goes in "
                      "--port)"
                    : "");
        goto fail;
    }
    /* The listening socket: serve's own, libmicrohttpd's threads only get the connections (below). Made as
     * libmicrohttpd made it: SO_REUSEADDR (a restart binds at once, past the old connections' TIME_WAIT), a
     * backlog of SOMAXCONN; an IPv6 address for IPv6 alone (IPV6_V6ONLY), but for ::, every address, which takes
     * IPv4 too (as IPv4-mapped ::ffff:a.b.c.d), as 0.0.0.0 does: it was IPv6 alone, 127.0.0.1 refused, while the
     * note said that other machines may reach it. */
    int family = ai->ai_family, local = loopback(ai->ai_addr), one = 1, listen_fd, bound = port;
    int v6only = family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    if ((listen_fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (family == AF_INET6 && setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only)) ||
        bind(listen_fd, ai->ai_addr, ai->ai_addrlen) || listen(listen_fd, SOMAXCONN)) {
        cli_say(stderr, "mnist serve: cannot listen on %s port %d: %s\n", host, port, strerror(errno));
        if (listen_fd >= 0) close(listen_fd);
        freeaddrinfo(ai);
        goto fail;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage name;
    socklen_t namelen = sizeof name;
    if (!getsockname(listen_fd, (struct sockaddr *)&name, &namelen)) /* the port --port 0 got */
        bound = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&name)->sin6_port
                                         : ((struct sockaddr_in *)&name)->sin_port);
    /* epoll (MHD_USE_AUTO's choice on Linux): overloaded, each thread serves the connections that are ready in
     * turn; poll()'s loop went through them in a fixed order, and the last ones waited longer (make bench-serve's
     * drawings: p99 1.1 s where epoll's is 0.16 s, at the same rate). No listening socket in libmicrohttpd
     * (MHD_USE_NO_LISTEN_SOCKET), so no MHD_quiesce_daemon at a stop: in 0.9.75's epoll mode it takes the
     * listening socket out of each thread's epoll set while that thread's loop may be doing so too, and the
     * loser's epoll_ctl() failing ends the process by MHD_PANIC (abort): SIGTERM's answer was, now and then,
     * SIGABRT (test_stop_busy). serve's accept thread takes the connections instead, as many as --connections,
     * and counts them itself; libmicrohttpd's limit (split among its threads, each of which may be handed any
     * connection) is above it, so that libmicrohttpd never closes one for it. */
    unsigned flags_mhd = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_NO_LISTEN_SOCKET |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    s.listen_fd = listen_fd;
    s.limit = connections;
    s.per_address = per_address;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.room, NULL);
    /* a pool where there are 2 threads or more: of a pool of 1, libmicrohttpd printed a warning that it is none */
    struct MHD_OptionItem pool[] = {{threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
                                    {MHD_OPTION_END, 0, NULL}};
    int e = predictions_start(&s, threads); /* before the daemon, whose handler queues predictions for them */
    if (e) {
        cli_say(stderr, "mnist serve: cannot start its threads: %s\n", e == ENOMEM ? "out of memory" : strerror(e));
        predictions_stop(&s);
        close(listen_fd);
        goto fail;
    }
    s.daemon = mhd.start_daemon(flags_mhd, 0, NULL, NULL, on_request, &s,
                                MHD_OPTION_ARRAY, pool,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)threads * ((unsigned)connections + 2),
                                MHD_OPTION_URI_LOG_CALLBACK, on_begin, &s,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, &s,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &s,
                                MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                                MHD_OPTION_END);
    pthread_t acceptor;
    if (s.daemon) e = pthread_create(&acceptor, NULL, accept_loop, &s);
    if (!s.daemon || e) {
        cli_say(stderr, "mnist serve: libmicrohttpd did not start: %s\n",
                e ? strerror(e) : s.mhd_msg[0] ? s.mhd_msg : "no reason given");
        if (s.daemon) mhd.stop_daemon(s.daemon);
        predictions_stop(&s);
        close(listen_fd);
        goto fail;
    }
    atomic_store(&s.started, 1);
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM (docker stop, systemd, kill) stops as Ctrl-C does: ended by its default action, a server
     * that is a container's process 1 went on serving (process 1 is never ended by a signal it
     * leaves to its default action; the handler's raise() was ignored). Both are caught so before
     * the line that says the server is up, which whoever sends them may wait for. */
    cli_catch_sigint(1);
    cli_catch_sigterm(1);
    int v6 = family == AF_INET6 && strchr(host, ':');
    cli_say(stdout, "Serving %s on http://%s%s%s:%d/ (%d threads; Ctrl-C stops)\n", model, v6 ? "[" : "", host, v6 ? "]" : "",
           bound, threads);
    if (!local)
        cli_say(stderr, "mnist serve: note: %s may be reachable from other machines\n", host);
    if (connections < asked)
        fprintf(stderr,
                "mnist serve: note: at most %d connections, %d from one address: the limit of open files (ulimit -n) "
                "is %llu\n",
                connections, per_address, (unsigned long long)nofile.rlim_cur);
    cli_flush();
    while (!interrupted) {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        enforce_deadline(deadline, log);
        drop_gone(&s);
    }
    /* The requests under way are answered (for up to STOP_GRACE s; a second Ctrl-C or SIGTERM ends the
     * program at once): new connections are refused from here, and stop_daemon, which closes every
     * connection, comes once none is left. It cut them off: an upload or a prediction under way at a
     * docker stop got no answer. --deadline still closes a request too slow meanwhile. */
    pthread_mutex_lock(&s.lock);
    s.stopping = 1;
    pthread_cond_signal(&s.room);
    pthread_mutex_unlock(&s.lock);
    shutdown(listen_fd, SHUT_RDWR); /* refused from now: a client is told at once, not left in the queue */
    pthread_join(acceptor, NULL);
    close(listen_fd);
    int cut;
    for (double until = now() + STOP_GRACE, next = now() + 0.1; (cut = under_way()) > 0 && now() < until;) {
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        if (now() >= next) { /* the deadline holds meanwhile, at its pace */
            enforce_deadline(deadline, log);
            drop_gone(&s); /* one whose fd another connection got counted as under way */
            next += 0.1;
        }
    }
    cli_catch_sigint(0);
    cli_catch_sigterm(0);
    /* each suspended connection resumed, its prediction made or refused, and its answer given up to 1 s to go out
     * (stop_daemon closes the connections) */
    predictions_stop(&s);
    for (double until = now() + 1; atomic_load(&s.handed) > 0 && now() < until;)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    if (cut) cut = under_way();
    mhd.stop_daemon(s.daemon);
    if (cut) printf("Stopped (%d request%s cut short after %.0f s)\n", cut, cut == 1 ? "" : "s", STOP_GRACE);
    else printf("Stopped\n");
    rc = 0;
fail:
    free(s.model_json);
    free(s.page);
    mnist_model_free(&s.model);
    return rc;
}

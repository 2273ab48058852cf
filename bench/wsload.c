/* A WebSocket echo load generator for bench/bench_websocket.py: N connections
 * on one epoll loop, each keeping WINDOW binary messages of SIZE bytes in
 * flight (1: round trips); the masked frame is built once and written as is,
 * server frames are only counted, so the client costs little CPU per message.
 *
 * usage: wsload PORT PATH CONNS SIZE WINDOW SECONDS WARMUP
 * prints: {"messages": N, "seconds": S, "client_cpu": S} for the timed part.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    unsigned char hdr[14];
    int hlen, in_payload, fin, opcode, writing;
    unsigned long long left;
    size_t wpos;        /* bytes of the current frame already written */
    long wpending;      /* frames still to write */
} conn_t;

static unsigned char *frame;
static size_t frame_len;
static int ep;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void die(const char *what) { perror(what); exit(1); }

static void watch(conn_t *c, int out) {
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->writing = out;
}

static void flush_writes(conn_t *c) {
    while (c->wpending > 0) {
        ssize_t n = write(c->fd, frame + c->wpos, frame_len - c->wpos);
        if (n < 0) {
            if (errno == EAGAIN) { if (!c->writing) watch(c, 1); return; }
            die("write");
        }
        c->wpos += n;
        if (c->wpos == frame_len) { c->wpos = 0; c->wpending--; }
    }
    if (c->writing) watch(c, 0);
}

/* Count the complete data messages in buf; control frames are skipped. */
static long parse(conn_t *c, const unsigned char *buf, ssize_t n) {
    long done = 0;
    ssize_t i = 0;
    while (i < n) {
        if (!c->in_payload) {
            c->hdr[c->hlen++] = buf[i++];
            if (c->hlen < 2) continue;
            int l7 = c->hdr[1] & 0x7f;
            int need = l7 < 126 ? 2 : (l7 == 126 ? 4 : 10);
            if (c->hlen < need) continue;
            unsigned long long len = l7;
            if (l7 == 126) len = (c->hdr[2] << 8) | c->hdr[3];
            else if (l7 == 127) { len = 0; for (int k = 2; k < 10; k++) len = len << 8 | c->hdr[k]; }
            c->fin = c->hdr[0] & 0x80;
            c->opcode = c->hdr[0] & 0x0f;
            if (c->opcode == 8) { fprintf(stderr, "the server closed the WebSocket\n"); exit(1); }
            c->hlen = 0;
            c->left = len;
            c->in_payload = len > 0;
            if (!len && c->fin && c->opcode < 8) done++;
        } else {
            size_t take = (size_t)(n - i) < c->left ? (size_t)(n - i) : c->left;
            i += take;
            c->left -= take;
            if (!c->left) { c->in_payload = 0; if (c->fin && c->opcode < 8) done++; }
        }
    }
    return done;
}

int main(int argc, char **argv) {
    if (argc != 8) { fprintf(stderr, "usage: wsload PORT PATH CONNS SIZE WINDOW SECONDS WARMUP\n"); return 2; }
    int port = atoi(argv[1]), conns = atoi(argv[3]), window = atoi(argv[5]);
    size_t size = strtoul(argv[4], NULL, 10);
    double seconds = atof(argv[6]), warmup = atof(argv[7]);
    const char *path = argv[2];

    /* One masked binary frame (RFC 6455 §5.2), built once. */
    unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    frame = malloc(size + 14);
    size_t h = 0;
    frame[h++] = 0x82;
    if (size < 126) frame[h++] = 0x80 | size;
    else if (size < 65536) { frame[h++] = 0x80 | 126; frame[h++] = size >> 8; frame[h++] = size & 255; }
    else { frame[h++] = 0x80 | 127; for (int k = 7; k >= 0; k--) frame[h++] = (size >> (8 * k)) & 255; }
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < size; i++) frame[h + i] = ((unsigned char)('a' + i % 26)) ^ mask[i % 4];
    frame_len = h + size;

    char request[512];
    int rlen = snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, port);

    ep = epoll_create1(0);
    conn_t *cs = calloc(conns, sizeof(conn_t));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    static unsigned char buf[1 << 18];
    for (int i = 0; i < conns; i++) {
        conn_t *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (write(c->fd, request, rlen) != rlen) die("write handshake");
        size_t got = 0;
        char *end = NULL;
        while (!end) {
            ssize_t n = read(c->fd, buf + got, sizeof buf - got - 1);
            if (n <= 0) die("read handshake");
            got += n;
            buf[got] = 0;
            end = strstr((char *)buf, "\r\n\r\n");
        }
        if (strncmp((char *)buf, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "handshake: %.80s\n", buf); return 1; }
        size_t head = (unsigned char *)end + 4 - buf;
        if (got > head) parse(c, buf + head, got - head);
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    for (int i = 0; i < conns; i++) { cs[i].wpending = window; flush_writes(&cs[i]); }

    double start = now(), timed_from = start + warmup, until = timed_from + seconds;
    double cpu_from = 0, t;
    long count = 0;
    int timing = 0;
    struct epoll_event events[256];
    while ((t = now()) < until) {
        if (!timing && t >= timed_from) { timing = 1; count = 0; cpu_from = cpu(); timed_from = t; }
        int n = epoll_wait(ep, events, 256, 50);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (events[i].events & EPOLLIN) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r == 0) { fprintf(stderr, "the server closed the connection\n"); return 1; }
                if (r < 0) { if (errno == EAGAIN) continue; die("read"); }
                long done = parse(c, buf, r);
                count += done;
                c->wpending += done;
                flush_writes(c);
            } else if (events[i].events & EPOLLOUT) {
                flush_writes(c);
            }
        }
    }
    double elapsed = now() - timed_from;
    printf("{\"messages\": %ld, \"seconds\": %.4f, \"client_cpu\": %.4f}\n", count, elapsed, cpu() - cpu_from);
    return 0;
}

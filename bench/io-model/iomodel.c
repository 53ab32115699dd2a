// What the I/O model alone costs the kernel at pipeline 1: a server that does nothing but answer every read
// with "+OK\r\n" (enough for `redis-benchmark -t set -P 1`, which has one request in flight per connection), in
// two ways:
//   epoll     level-triggered epoll_wait, then read() and write() per ready connection: Shoal's and Redis's
//             model, one wait plus two system calls per request;
//   io_uring  a multishot accept, a multishot recv per connection into a provided-buffer ring, and the replies
//             queued as sends and submitted with the wait for the next completions: one io_uring_enter per
//             loop turn however many requests it carries (IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN).
// No parsing, no store: the difference between the two is the ceiling of what an io_uring backend could save
// Shoal per request. bench/io-model/run.py builds it and measures both (bench/README.md has the figures).
//
//   cc -O2 -o iomodel iomodel.c -luring && ./iomodel epoll|io_uring PORT
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] = "+OK\r\n";

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 511) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static _Noreturn void run_epoll(int listener) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[128];
    char buffer[16384];
    for (;;) {
        int count = epoll_wait(ep, ready, 128, -1);
        for (int i = 0; i < count; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (client < 0) continue;
                nodelay(client);
                struct epoll_event add = {.events = EPOLLIN, .data.fd = client};
                epoll_ctl(ep, EPOLL_CTL_ADD, client, &add);
                continue;
            }
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                continue;
            }
            if (write(fd, reply, sizeof reply - 1) < 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
}

enum { BUFFERS = 1024, BUFFER_BYTES = 4096, GROUP = 1 };
enum { KIND_ACCEPT = 1, KIND_RECV = 2, KIND_SEND = 3 };
#define USER_DATA(kind, fd) (((uint64_t)(kind) << 32) | (uint32_t)(fd))

static struct io_uring ring;
static struct io_uring_buf_ring *buffers;
static char *buffer_memory;

static struct io_uring_sqe *next_sqe(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = next_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, USER_DATA(KIND_RECV, fd));
}

static void arm_accept(int listener) {
    struct io_uring_sqe *sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, USER_DATA(KIND_ACCEPT, listener));
}

static int run_io_uring(int listener) {
    struct io_uring_params params = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int result = io_uring_queue_init_params(4096, &ring, &params);
    if (result < 0) {
        fprintf(stderr, "io_uring_queue_init_params: %s\n", strerror(-result));
        return 1;
    }
    size_t ring_bytes = BUFFERS * sizeof(struct io_uring_buf);
    buffers = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buffer_memory = malloc((size_t)BUFFERS * BUFFER_BYTES);
    struct io_uring_buf_reg registration = {.ring_addr = (unsigned long)buffers, .ring_entries = BUFFERS, .bgid = GROUP};
    if ((result = io_uring_register_buf_ring(&ring, &registration, 0)) < 0) {
        fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-result));
        return 1;
    }
    io_uring_buf_ring_init(buffers);
    int mask = io_uring_buf_ring_mask(BUFFERS);
    for (int i = 0; i < BUFFERS; i++)
        io_uring_buf_ring_add(buffers, buffer_memory + (size_t)i * BUFFER_BYTES, BUFFER_BYTES, i, mask, i);
    io_uring_buf_ring_advance(buffers, BUFFERS);
    arm_accept(listener);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0, returned = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int kind = (int)(data >> 32), fd = (int)(uint32_t)data;
            if (kind == KIND_ACCEPT) {
                if (cqe->res >= 0) {
                    nodelay(cqe->res);
                    arm_recv(cqe->res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(listener);
            } else if (kind == KIND_RECV) {
                if (cqe->res > 0) {
                    int id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    io_uring_buf_ring_add(buffers, buffer_memory + (size_t)id * BUFFER_BYTES, BUFFER_BYTES, id, mask,
                                          returned++);
                    struct io_uring_sqe *sqe = next_sqe();
                    io_uring_prep_send(sqe, fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
                    io_uring_sqe_set_data64(sqe, USER_DATA(KIND_SEND, fd));
                    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
                } else if (cqe->res == -ENOBUFS) {
                    arm_recv(fd);
                } else {
                    close(fd);
                }
            }
        }
        if (returned) io_uring_buf_ring_advance(buffers, returned);
        io_uring_cq_advance(&ring, seen);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: iomodel epoll|io_uring PORT\n");
        return 2;
    }
    int listener = listen_on(atoi(argv[2]));
    if (strcmp(argv[1], "io_uring") == 0) return run_io_uring(listener);
    run_epoll(listener);
}

#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "CShoalPosix.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <malloc.h>

_Static_assert(CSHOAL_EPOLLIN == EPOLLIN && CSHOAL_EPOLLOUT == EPOLLOUT && CSHOAL_EPOLLERR == EPOLLERR &&
               CSHOAL_EPOLLHUP == EPOLLHUP && CSHOAL_EPOLLRDHUP == EPOLLRDHUP, "epoll constants");
_Static_assert(CSHOAL_EPOLL_CTL_ADD == EPOLL_CTL_ADD && CSHOAL_EPOLL_CTL_DEL == EPOLL_CTL_DEL &&
               CSHOAL_EPOLL_CTL_MOD == EPOLL_CTL_MOD, "epoll ctl constants");

int cshoal_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cshoal_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cshoal_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        datas[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

int cshoal_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cshoal_accept_nonblocking(int fd, void *addr, uint32_t *len) {
    socklen_t socklen = *len;
    int rc = accept4(fd, (struct sockaddr *)addr, &socklen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    *len = socklen;
    return rc;
}

int cshoal_rwlock_init_prefer_writer(void *lock) {
    pthread_rwlockattr_t attr;
    int rc = pthread_rwlockattr_init(&attr);
    if (rc != 0) return rc;
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init((pthread_rwlock_t *)lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc;
}

int cshoal_set_keepalive(int fd, int interval) {
    int yes = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes)) == -1) return -1;
    int val = interval;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &val, sizeof(val)) < 0) return -1;
    val = interval / 3;
    if (val == 0) val = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &val, sizeof(val)) < 0) return -1;
    val = 3;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &val, sizeof(val)) < 0) return -1;
    return 0;
}

uint64_t cshoal_malloc_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}

void cshoal_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

void cshoal_malloc_trim(void) { malloc_trim(0); }

void cshoal_discard_pages(void *start, size_t length) { madvise(start, length, MADV_DONTNEED); }

int cshoal_set_thread_nice(int nice) { return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice); }

int cshoal_parse_long_double(const char *bytes, size_t len, long double *out) {
    char buf[5 * 1024];
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, bytes, len);
    buf[len] = '\0';
    errno = 0;
    char *end = NULL;
    long double value = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end != buf + len ||
        (errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *out = value;
    return 1;
}

int cshoal_format_long_double(long double value, char *buf, size_t len) {
    int length = snprintf(buf, len, "%.17Lf", value);
    if (length < 0 || (size_t)length + 1 > len) return -1;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + length - 1;
        while (*p == '0') { p--; length--; }
        if (*p == '.') length--;
    }
    if (length == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; length = 1; }
    return length;
}

static __thread long cshoal_executing_client = 0;
static __thread int cshoal_loop = -1;

void cshoal_set_current_loop(int index) { cshoal_loop = index; }

int cshoal_current_loop(void) { return cshoal_loop; }

void cshoal_set_executing_client(long id) { cshoal_executing_client = id; }

long cshoal_executing_client_id(void) { return cshoal_executing_client; }

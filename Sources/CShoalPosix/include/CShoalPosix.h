#ifndef CSHOALPOSIX_H
#define CSHOALPOSIX_H

// Only plain C types cross this header: the GNU definitions stay inside shim.c (compiled with _GNU_SOURCE),
// so Swift's Glibc module and this module never see two different versions of a system type.
#include <stddef.h>
#include <stdint.h>

enum {
    CSHOAL_EPOLLIN = 0x001,
    CSHOAL_EPOLLOUT = 0x004,
    CSHOAL_EPOLLERR = 0x008,
    CSHOAL_EPOLLHUP = 0x010,
    CSHOAL_EPOLLRDHUP = 0x2000,
    CSHOAL_EPOLL_CTL_ADD = 1,
    CSHOAL_EPOLL_CTL_DEL = 2,
    CSHOAL_EPOLL_CTL_MOD = 3,
};

int cshoal_epoll_create(void);
/// epoll_event is packed on x86_64; it is built and read in C so Swift never sees its layout.
int cshoal_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits for at most `max` (<= 256) events; fills `datas` and `events`.
int cshoal_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);

/// A non-blocking, close-on-exec eventfd used to wake an event loop from another thread.
int cshoal_eventfd(void);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC. `addr` points to a sockaddr_storage of `*len` bytes.
int cshoal_accept_nonblocking(int fd, void *addr, uint32_t *len);

/// Initialises a pthread_rwlock_t at `lock` preferring writers, so readers cannot starve a writer.
int cshoal_rwlock_init_prefer_writer(void *lock);

/// TCP keepalive with an interval, as Redis's anetKeepAlive.
int cshoal_set_keepalive(int fd, int interval);

/// Bytes the allocator has handed out (mallinfo2's uordblks + hblkhd).
uint64_t cshoal_malloc_in_use(void);

/// Returns freed heap memory to the system (after a snapshot released its table copies).
void cshoal_malloc_trim(void);
/// Hands the pages of [start, start+length) back to the system (MADV_DONTNEED; both page-aligned): their contents
/// are gone and the next touch maps a zero page. For a block kept for reuse, not freed to malloc.
void cshoal_discard_pages(void *start, size_t length);

/// Lowers the calling thread's scheduling priority to `nice` (0 to 19; Linux sets it per thread). Returns 0,
/// or -1 with errno.
int cshoal_set_thread_nice(int nice);

/// Names the calling thread (visible in top -H, gdb, perf).
void cshoal_set_thread_name(const char *name);

/// Parses `len` bytes as a long double exactly as Redis's string2ld (strtold, whole string consumed, no leading
/// space, no NaN, no overflow). Returns 1 and sets `*out`, or 0. INCRBYFLOAT computes in long double, as Redis.
int cshoal_parse_long_double(const char *bytes, size_t len, long double *out);

/// Formats `value` as Redis's ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and a bare dot) removed,
/// "-0" as "0". Returns the length written into `buf`, or -1 when it doesn't fit.
int cshoal_format_long_double(long double value, char *buf, size_t len);

/// The client whose command this thread is running (0: none), for CLIENT TRACKING's NOLOOP: the store reports a
/// change on the thread that makes it, and tracking must know whose command made it.
void cshoal_set_executing_client(long id);
long cshoal_executing_client_id(void);

/// The event loop the calling thread runs (-1: none): mail posted to one's own loop needs no wake-up.
void cshoal_set_current_loop(int index);
int cshoal_current_loop(void);

/// Relaxed atomic counters in plain memory (histogram buckets): an add by the one thread that owns the counter,
/// an add by any thread, and a load from any thread. C11 atomics, which ThreadSanitizer understands.
static inline void cshoal_counter_add_owned(long *counter, long amount) {
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + amount, __ATOMIC_RELAXED);
}
static inline void cshoal_counter_add_shared(long *counter, long amount) {
    __atomic_fetch_add(counter, amount, __ATOMIC_RELAXED);
}
static inline long cshoal_counter_load(const long *counter) { return __atomic_load_n(counter, __ATOMIC_RELAXED); }
static inline void cshoal_counter_store(long *counter, long value) { __atomic_store_n(counter, value, __ATOMIC_RELAXED); }

#endif

// TCP_NODELAY on every connection the mock cluster accepts.
//
// librdkafka 2.0.2's mock cluster leaves Nagle's algorithm on for the sockets
// it accepts. A client with several requests in flight (a producer whose batch
// spans partitions, with idempotence up to five) then gets the second response
// only after the first one's delayed ACK: ~40 ms per append on Linux, against
// ~1 ms with Nagle off (jobsched-bench-append). Real Kafka brokers set
// TCP_NODELAY on their sockets (`socket.nagle.disable` is librdkafka's client
// side of the same thing).
//
// The mock offers no hook for its sockets, so this program interposes accept():
// the dynamic linker binds librdkafka's call to this definition (the executable
// exports it, see infra/CMakeLists.txt), which calls the C library's accept and
// turns Nagle off on the new socket. Only this program has it.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace {

using AcceptFn = int (*)(int, sockaddr*, socklen_t*);

AcceptFn NextAccept() {
  static const AcceptFn next = reinterpret_cast<AcceptFn>(dlsym(RTLD_NEXT, "accept"));
  return next;
}

}  // namespace

extern "C" int accept(int listener, sockaddr* address, socklen_t* length) {
  const AcceptFn next = NextAccept();
  if (next == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  const int fd = next(listener, address, length);
  if (fd >= 0) {
    const int one = 1;
    const int saved = errno;
    // A failure leaves Nagle on: slower, never wrong, so the connection stays.
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      spdlog::warn("TCP_NODELAY on an accepted connection failed ({}): its responses may wait "
                   "~40 ms for delayed ACKs",
                   std::strerror(errno));
    }
    errno = saved;
  }
  return fd;
}

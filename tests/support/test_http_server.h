// A tiny blocking HTTP/1.1 server on 127.0.0.1: the "user's endpoint" in tests.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace jobsched::testing {

// Listens on 127.0.0.1 on a free port from construction to destruction. One
// request per connection (it answers with Connection: close), each connection
// on its own thread, so the handler may block (e.g. to simulate a slow
// target) and must be thread-safe. Bodies need a Content-Length (chunked
// request bodies get 501). All public methods are thread-safe.
class TestHttpServer {
 public:
  struct Request {
    std::string method;
    std::string path;  // the request target as sent, query string included
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
  };
  struct Reply {
    int status = 200;
    std::string body;
    // Content-Length and Connection are set by the server; Content-Type
    // defaults to text/plain.
    std::map<std::string, std::string> headers;
  };
  using Handler = std::function<Reply(const Request&)>;

  // Answers every request with 200 "ok".
  TestHttpServer();
  // A handler that throws makes the server answer 500 with the message.
  explicit TestHttpServer(Handler handler);
  // Stops accepting, cuts open connections and waits for running handlers.
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + path.
  std::string url(const std::string& path = "/") const;
  // Every well-formed request received so far, in arrival order (recorded
  // before the handler runs).
  std::vector<Request> requests() const;
  size_t request_count() const;

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;  // guarded by mu_
  std::set<int> open_fds_;         // guarded by mu_
  std::list<Worker> workers_;      // only touched by the acceptor, then the destructor
};

}  // namespace jobsched::testing

#include "tests/support/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <stdexcept>

namespace jobsched::testing {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// Sends all of `data`; false if the peer went away.
bool SendAll(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void SendReply(int fd, const TestHttpServer::Reply& reply, bool head) {
  std::string out =
      "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
  bool has_type = false;
  for (const auto& [name, value] : reply.headers) {
    std::string lower = Lower(name);
    if (lower == "content-length" || lower == "connection") continue;
    has_type = has_type || lower == "content-type";
    out += name + ": " + value + "\r\n";
  }
  if (!has_type) out += "Content-Type: text/plain\r\n";
  if (reply.status != 204 && reply.status != 304) {
    out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  if (!head) out += reply.body;
  SendAll(fd, out);  // a client that left does not care about the answer
}

// Reads one request into `req`. Returns 0 on success, an HTTP status to answer
// with on a malformed request, or -1 if the connection ended early.
int ReadRequest(int fd, TestHttpServer::Request& req) {
  std::string buf;
  char chunk[16 * 1024];
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > kMaxHeaderBytes) return 400;
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf.append(chunk, static_cast<size_t>(n));
  }
  size_t line_end = buf.find("\r\n");
  std::string request_line = buf.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return 400;
  req.method = request_line.substr(0, sp1);
  req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (size_t pos = line_end + 2; pos < header_end;) {
    size_t eol = buf.find("\r\n", pos);
    std::string line = buf.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return 400;
    req.headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  if (req.headers.contains("transfer-encoding")) return 501;
  size_t length = 0;
  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    try {
      length = std::stoul(it->second);
    } catch (const std::exception&) {
      return 400;
    }
    if (length > kMaxBodyBytes) return 413;
  }
  req.body = buf.substr(header_end + 4);
  while (req.body.size() < length) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    req.body.append(chunk, static_cast<size_t>(n));
  }
  req.body.resize(length);
  return 0;
}

}  // namespace

TestHttpServer::TestHttpServer()
    : TestHttpServer([](const Request&) {
        return Reply{200, "ok", {}};
      }) {}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 128) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string error = std::strerror(errno);
    close(listen_fd_);
    throw std::runtime_error("TestHttpServer: cannot listen on 127.0.0.1: " + error);
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TestHttpServer::~TestHttpServer() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // wakes recv()
  }
  for (auto& worker : workers_) worker.thread.join();
  close(listen_fd_);
}

std::string TestHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<TestHttpServer::Request> TestHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t TestHttpServer::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

void TestHttpServer::AcceptLoop() {
  while (!stopping_) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::cerr << "TestHttpServer: accept failed: " << std::strerror(errno) << "\n";
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // fds may free up
        continue;
      }
      return;
    }
    timeval timeout{30, 0};  // a client that stalls mid-request is dropped
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    {
      std::lock_guard lock(mu_);
      open_fds_.insert(fd);
    }
    workers_.remove_if([](Worker& w) {
      if (!*w.done) return false;
      w.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([this, fd, done] {
                          Serve(fd);
                          *done = true;
                        }),
                        done});
  }
}

void TestHttpServer::Serve(int fd) {
  Request req;
  int error = ReadRequest(fd, req);
  if (error > 0) {
    SendReply(fd, {error, "TestHttpServer: bad or unsupported request\n", {}}, false);
  } else if (error == 0) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
    }
    Reply reply;
    try {
      reply = handler_(req);
    } catch (const std::exception& e) {  // answered as 500, and said out loud
      std::cerr << "TestHttpServer: handler threw: " << e.what() << "\n";
      reply = {500, std::string("handler threw: ") + e.what() + "\n", {}};
    }
    SendReply(fd, reply, req.method == "HEAD");
  }
  std::lock_guard lock(mu_);
  open_fds_.erase(fd);  // before close(): the number may be reused at once
  close(fd);
}

}  // namespace jobsched::testing

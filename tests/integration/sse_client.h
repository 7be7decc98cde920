// A Server-Sent Events client for tests: one HTTP/1.1 request on a raw
// socket; a thread reads the response, de-chunks the body and parses it into
// messages (event, id, data) and comments.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/wait.h"

namespace jobsched::testing {

inline constexpr std::chrono::milliseconds kSseWait{15'000};

struct Message {
  std::string event;
  std::string id;
  std::string data;
};

// One HTTP request on a raw socket; a thread reads the response, de-chunks
// the body and parses it into messages and comments.
class SseClient {
 public:
  SseClient(int port, const std::string& path, const std::string& last_event_id = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("connect failed");
    }
    std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
    reader_ = std::thread([this] { Read(); });
  }
  ~SseClient() {
    Disconnect();
    reader_.join();
  }

  void Disconnect() {
    std::lock_guard<std::mutex> lock(fd_mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

  int status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::string head() {
    std::lock_guard<std::mutex> lock(mu_);
    return head_;
  }
  std::string body() {
    std::lock_guard<std::mutex> lock(mu_);
    return body_;
  }
  // What arrived that was not part of the chunked body ("" if nothing).
  std::string garbage() {
    std::lock_guard<std::mutex> lock(mu_);
    return garbage_;
  }
  bool ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  std::vector<Message> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::vector<std::string> comments() {
    std::lock_guard<std::mutex> lock(mu_);
    return comments_;
  }
  bool WaitMessages(size_t n) {
    return WaitFor([&] { return messages().size() >= n; }, kSseWait);
  }
  bool WaitStatus() {
    return WaitFor([&] { return status() != 0; }, kSseWait);
  }

 private:
  void Read() {
    std::string raw;
    char buf[4096];
    bool chunked = false;
    size_t body_start = std::string::npos;
    std::string decoded;
    size_t pos = 0;  // de-chunking position in raw
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      raw.append(buf, static_cast<size_t>(n));
      if (body_start == std::string::npos) {
        size_t end = raw.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        body_start = end + 4;
        pos = body_start;
        std::lock_guard<std::mutex> lock(mu_);
        head_ = raw.substr(0, end);
        status_ = std::stoi(head_.substr(9, 3));
        chunked = head_.find("Transfer-Encoding: chunked") != std::string::npos;
      }
      if (!chunked) {
        std::lock_guard<std::mutex> lock(mu_);
        body_ = raw.substr(body_start);
        continue;
      }
      while (true) {
        size_t eol = raw.find("\r\n", pos);
        if (eol == std::string::npos) break;
        size_t size = 0;
        try {
          size = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
        } catch (const std::exception&) {
          // Not a chunk: the server wrote something else on the connection.
          std::lock_guard<std::mutex> lock(mu_);
          garbage_ = raw.substr(pos, 200);
          ended_ = true;
          return Close();
        }
        if (raw.size() < eol + 2 + size + 2) break;
        if (size == 0) {
          std::lock_guard<std::mutex> lock(mu_);
          ended_ = true;
          pos = eol + 4;
          break;
        }
        decoded += raw.substr(eol + 2, size);
        pos = eol + 2 + size + 2;
      }
      Parse(&decoded);
    }
    Close();
  }

  void Close() {
    std::lock_guard<std::mutex> lock(fd_mu_);
    ::close(fd_);
    fd_ = -1;
  }

  // Takes every complete message (ended by a blank line) out of `text`.
  void Parse(std::string* text) {
    size_t end;
    while ((end = text->find("\n\n")) != std::string::npos) {
      std::string block = text->substr(0, end);
      text->erase(0, end + 2);
      Message m;
      bool any = false;
      size_t start = 0;
      while (start <= block.size()) {
        size_t nl = block.find('\n', start);
        std::string line = block.substr(start, nl == std::string::npos ? nl : nl - start);
        if (line.rfind(":", 0) == 0) {
          std::lock_guard<std::mutex> lock(mu_);
          comments_.push_back(line);
        } else if (line.rfind("event: ", 0) == 0) {
          m.event = line.substr(7), any = true;
        } else if (line.rfind("id: ", 0) == 0) {
          m.id = line.substr(4), any = true;
        } else if (line.rfind("data: ", 0) == 0) {
          m.data += line.substr(6), any = true;
        }
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      if (any) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(std::move(m));
      }
    }
  }

  std::mutex fd_mu_;
  int fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  int status_ = 0;
  std::string head_;
  std::string body_;
  bool ended_ = false;
  std::string garbage_;
  std::vector<Message> messages_;
  std::vector<std::string> comments_;
};

}  // namespace jobsched::testing

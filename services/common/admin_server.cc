#include "services/common/admin_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/mime.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "services/common/logging.h"

namespace jobsched::services {

namespace Http = Pistache::Http;
using nlohmann::json;

void Readiness::Check(const std::string& name, bool ok, const std::string& detail) {
  json check = {{"ok", ok}};
  if (!detail.empty()) check["detail"] = detail;
  checks[name] = std::move(check);
  ready = ready && ok;
}

namespace {

void SendJson(Http::ResponseWriter& writer, Http::Code code, const json& body) {
  writer.headers().add<Http::Header::ContentType>(MIME(Application, Json));
  writer.send(code, body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

class AdminHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(AdminHandler)
  explicit AdminHandler(std::shared_ptr<const AdminServer::Handlers> handlers)
      : handlers_(std::move(handlers)) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    const std::string& path = request.resource();
    if (request.method() != Http::Method::Get) {
      writer.headers().add<Http::Header::Allow>(Http::Method::Get);
      SendJson(
          writer, Http::Code::Method_Not_Allowed,
          {{"error",
            {{"code", "method_not_allowed"}, {"message", "the admin port answers GET only"}}}});
      return;
    }
    try {
      if (path == "/health") {
        SendJson(writer, Http::Code::Ok, handlers_->health());
      } else if (path == "/ready") {
        Readiness r = handlers_->ready();
        json body = {{"ready", r.ready}, {"checks", r.checks}};
        SendJson(writer, r.ready ? Http::Code::Ok : Http::Code::Service_Unavailable, body);
      } else if (path == "/metrics") {
        // The text format's content type, version 0.0.4 (what promtool and
        // Prometheus expect).
        writer.headers().add<Http::Header::ContentType>(
            Http::Mime::MediaType("text/plain; version=0.0.4; charset=utf-8"));
        writer.send(Http::Code::Ok, handlers_->metrics());
      } else {
        SendJson(writer, Http::Code::Not_Found,
                 {{"error",
                   {{"code", "route_not_found"},
                    {"message",
                     "no route " + path + "; the admin port serves /health, /ready, /metrics"}}}});
      }
    } catch (const std::exception& e) {
      Log(*GetLogger("admin"), spdlog::level::err, "admin request failed",
          {{"path", path}, {"error", e.what()}});
      SendJson(writer, Http::Code::Internal_Server_Error,
               {{"error", {{"code", "internal"}, {"message", e.what()}}}});
    }
  }

 private:
  std::shared_ptr<const AdminServer::Handlers> handlers_;
};

}  // namespace

class AdminServer::Impl {
 public:
  Impl(std::string host, int port, Handlers handlers)
      : host_(std::move(host)),
        port_(port),
        handlers_(std::make_shared<const Handlers>(std::move(handlers))) {}

  Status Start() {
    try {
      endpoint_ = std::make_unique<Http::Endpoint>(
          Pistache::Address(host_, Pistache::Port(static_cast<uint16_t>(port_))));
      endpoint_->init(
          Http::Endpoint::options().threads(1).flags(Pistache::Tcp::Options::ReuseAddr));
      endpoint_->setHandler(std::make_shared<AdminHandler>(handlers_));
      endpoint_->serveThreaded();
      bound_ = static_cast<int>(static_cast<uint16_t>(endpoint_->getPort()));
    } catch (const std::exception& e) {
      endpoint_.reset();
      return Status::Unavailable("cannot serve the admin port on " + host_ + ":" +
                                 std::to_string(port_) + ": " + e.what() +
                                 " (set JOBSCHED_ADMIN_PORT to a free port, or 0 for any)");
    }
    return Status::Ok();
  }

  void Stop() {
    if (!endpoint_) return;
    endpoint_->shutdown();
    endpoint_.reset();
  }

  int port() const { return bound_; }

 private:
  std::string host_;
  int port_;
  std::shared_ptr<const Handlers> handlers_;
  std::unique_ptr<Http::Endpoint> endpoint_;
  std::atomic<int> bound_{0};
};

AdminServer::AdminServer(std::string host, int port, Handlers handlers)
    : impl_(std::make_unique<Impl>(std::move(host), port, std::move(handlers))) {}
AdminServer::~AdminServer() { Stop(); }
Status AdminServer::Start() { return impl_->Start(); }
void AdminServer::Stop() { impl_->Stop(); }
int AdminServer::port() const { return impl_->port(); }

Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content << "\n";
    if (!out.flush()) return Status::Internal("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Internal("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace jobsched::services

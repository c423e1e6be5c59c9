// HTTP for the registry remote, through libcurl: one request at a time on a
// reused connection, with the registries' two authentication schemes. A 401 with
// `WWW-Authenticate: Bearer realm=...,service=...,scope=...` fetches a token from
// the realm (with the credentials, when there are any) and repeats the request; a
// 401 asking for Basic repeats it with the credentials. Credentials come from
// FOMO_REGISTRY_USER and FOMO_REGISTRY_PASSWORD, else docker's config.json
// ($DOCKER_CONFIG/config.json or ~/.docker/config.json, its "auths").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fomo {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::optional<std::string> Header(const std::string& lower_name) const;
};

struct HttpRequest {
  HttpRequest(std::string method_, std::string url_, std::vector<std::string> headers_ = {},
              const uint8_t* body_ = nullptr, uint64_t body_size_ = 0)
      : method(std::move(method_)), url(std::move(url_)), headers(std::move(headers_)), body(body_),
        body_size(body_size_) {}
  std::string method;
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  const uint8_t* body = nullptr;
  uint64_t body_size = 0;
};

struct Credentials {
  std::string user, password;
};

// The credentials for a registry host ("localhost:5000"), if any are set.
std::optional<Credentials> RegistryCredentials(const std::string& host);

class HttpClient {
 public:
  // host names the registry in messages and for docker's credentials.
  explicit HttpClient(std::string host);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request, authenticating as the server asks. Throws fomo::Error for a
  // transport failure (unreachable, TLS, timeout), naming the host; HTTP errors
  // are responses, for the caller to judge.
  HttpResponse Send(const HttpRequest& request);

 private:
  HttpResponse SendOnce(const HttpRequest& request, const std::optional<std::string>& authorization);
  // Answers a 401's challenge; false when it cannot be answered.
  bool Authenticate(const HttpResponse& challenge);

  std::string host_;
  void* curl_ = nullptr;
  std::optional<std::string> authorization_;  // "Bearer ..." or "Basic ..."
  std::optional<Credentials> credentials_;
};

// The message of a registry's error body ({"errors": [{"code", "message"}]}), or
// the status line.
std::string RegistryErrorText(const HttpResponse& response);

std::string Base64Encode(const std::string& bytes);
std::string Base64Decode(const std::string& text);

}  // namespace fomo

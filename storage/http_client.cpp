#include "storage/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "storage/error.hpp"

namespace fomo {

namespace {

void EnsureCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

size_t OnBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* out) {
  const std::string line(data, size * count);
  auto* headers = static_cast<std::map<std::string, std::string>*>(out);
  if (line.rfind("HTTP/", 0) == 0) headers->clear();  // a new response (after a redirect or 100)
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    (*headers)[Lower(line.substr(0, colon))] = value;
  }
  return size * count;
}

struct Upload {
  const uint8_t* data;
  uint64_t size;
  uint64_t at = 0;
};

size_t OnRead(char* out, size_t size, size_t count, void* in) {
  auto* upload = static_cast<Upload*>(in);
  const uint64_t n = std::min<uint64_t>(size * count, upload->size - upload->at);
  if (n) std::copy(upload->data + upload->at, upload->data + upload->at + n, out);
  upload->at += n;
  return static_cast<size_t>(n);
}

// key="value" pairs of a challenge: Bearer realm="...",service="...",scope="..."
std::map<std::string, std::string> ChallengeParameters(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t at = text.find(' ');
  while (at != std::string::npos && at < text.size()) {
    while (at < text.size() && (text[at] == ' ' || text[at] == ',')) ++at;
    const size_t eq = text.find('=', at);
    if (eq == std::string::npos) break;
    const std::string key = Lower(text.substr(at, eq - at));
    std::string value;
    size_t end = eq + 1;
    if (end < text.size() && text[end] == '"') {
      const size_t close = text.find('"', end + 1);
      value = text.substr(end + 1, close == std::string::npos ? std::string::npos : close - end - 1);
      end = close == std::string::npos ? text.size() : close + 1;
    } else {
      const size_t comma = text.find(',', end);
      value = text.substr(end, comma == std::string::npos ? std::string::npos : comma - end);
      end = comma == std::string::npos ? text.size() : comma;
    }
    out[key] = value;
    at = end;
  }
  return out;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::string Base64Encode(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string Base64Decode(const std::string& text) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : text) {
    int d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '+' || c == '-') d = 62;
    else if (c == '/' || c == '_') d = 63;
    else continue;
    v = (v << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<Credentials> RegistryCredentials(const std::string& host) {
  const char* user = std::getenv("FOMO_REGISTRY_USER");
  const char* password = std::getenv("FOMO_REGISTRY_PASSWORD");
  if (user && *user) return Credentials{user, password ? password : ""};
  std::string path;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) {
    path = std::string(dir) + "/config.json";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    path = std::string(home) + "/.docker/config.json";
  }
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("auths") || !config["auths"].is_object()) return std::nullopt;
  for (const auto& [key, entry] : config["auths"].items()) {
    std::string name = key;
    for (const char* scheme : {"https://", "http://"}) {
      if (name.rfind(scheme, 0) == 0) name = name.substr(std::string(scheme).size());
    }
    name = name.substr(0, name.find('/'));
    if (name != host || !entry.is_object() || !entry.contains("auth") || !entry["auth"].is_string()) continue;
    const std::string pair = Base64Decode(entry["auth"].get<std::string>());
    const size_t colon = pair.find(':');
    if (colon == std::string::npos) continue;
    return Credentials{pair.substr(0, colon), pair.substr(colon + 1)};
  }
  return std::nullopt;
}

std::string RegistryErrorText(const HttpResponse& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("errors") && body["errors"].is_array() && !body["errors"].empty()) {
    const auto& e = body["errors"][0];
    std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    return fmt::format("HTTP {}{}{}", response.status, code.empty() ? "" : " " + code,
                       message.empty() ? "" : ": " + message);
  }
  return fmt::format("HTTP {}", response.status);
}

HttpClient::HttpClient(std::string host) : host_(std::move(host)), credentials_(RegistryCredentials(host_)) {
  EnsureCurl();
  curl_ = curl_easy_init();
  if (!curl_) throw Error("cannot start libcurl");
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::SendOnce(const HttpRequest& request, const std::optional<std::string>& authorization) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  HttpResponse response;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stalled transfer fails after a minute
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);   // blob GETs may redirect to storage
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  struct curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  if (authorization) headers = curl_slist_append(headers, ("Authorization: " + *authorization).c_str());
  Upload upload{request.body, request.body_size};
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "PATCH" || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    headers = curl_slist_append(headers, "Expect:");
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) throw Error(fmt::format("cannot reach {}: {}", host_, curl_easy_strerror(rc)));
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

bool HttpClient::Authenticate(const HttpResponse& challenge) {
  const auto header = challenge.Header("www-authenticate");
  if (!header) return false;
  const std::string scheme = Lower(header->substr(0, header->find(' ')));
  if (scheme == "basic") {
    if (!credentials_) return false;
    const std::string next = "Basic " + Base64Encode(credentials_->user + ":" + credentials_->password);
    if (authorization_ == next) return false;  // refused already
    authorization_ = next;
    return true;
  }
  if (scheme != "bearer") return false;
  const auto params = ChallengeParameters(*header);
  auto realm = params.find("realm");
  if (realm == params.end()) return false;
  std::string url = realm->second;
  std::string sep = url.find('?') == std::string::npos ? "?" : "&";
  for (const char* key : {"service", "scope"}) {
    auto it = params.find(key);
    if (it != params.end()) {
      url += sep + key + "=" + UrlEncode(it->second);
      sep = "&";
    }
  }
  std::optional<std::string> basic;
  if (credentials_) basic = "Basic " + Base64Encode(credentials_->user + ":" + credentials_->password);
  const HttpResponse token = SendOnce(HttpRequest("GET", url), basic);
  if (token.status != 200) {
    throw Error(fmt::format("{} refused the credentials{}: {}", host_, credentials_ ? "" : " (none are set)",
                            RegistryErrorText(token)));
  }
  nlohmann::json body = nlohmann::json::parse(token.body, nullptr, /*allow_exceptions=*/false);
  std::string value;
  if (body.is_object()) value = body.value("token", body.value("access_token", ""));
  if (value.empty()) throw Error(fmt::format("{}'s token service answered no token", host_));
  const std::string next = "Bearer " + value;
  if (authorization_ == next) return false;
  authorization_ = next;
  return true;
}

HttpResponse HttpClient::Send(const HttpRequest& request) {
  HttpResponse response = SendOnce(request, authorization_);
  for (int attempt = 0; response.status == 401 && attempt < 2; ++attempt) {
    if (!Authenticate(response)) {
      throw Error(fmt::format("{} refused access{}: {}", host_,
                              credentials_ ? " with the credentials given"
                                           : " (set FOMO_REGISTRY_USER and FOMO_REGISTRY_PASSWORD, or docker login)",
                              RegistryErrorText(response)));
    }
    response = SendOnce(request, authorization_);
  }
  return response;
}

}  // namespace fomo

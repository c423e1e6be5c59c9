#include "cmd/remote_access.hpp"

#include <iostream>

#include <fmt/format.h>

#include "storage/error.hpp"

namespace fomo::cmd {

NamedRemote OpenNamedRemote(const Repository& repo, const std::string& name_or_url, bool create, bool insecure) {
  const auto remotes = repo.graph().Remotes();
  std::optional<RemoteEntry> entry;
  if (name_or_url.empty()) {
    entry = repo.graph().FindRemote("origin");
    if (!entry && remotes.size() == 1) entry = remotes.front();
    if (!entry) {
      throw UsageError(remotes.empty() ? "no remote: name one, or add one with 'fomo remote add NAME URL'"
                                       : "which remote? there is no 'origin' (see 'fomo remote')");
    }
  } else {
    entry = repo.graph().FindRemote(name_or_url);
  }
  NamedRemote named;
  named.name = entry ? entry->name : name_or_url;
  named.url = entry ? entry->url : name_or_url;
  named.remote = OpenRemote(named.url, RemoteOptions{create, insecure || (entry && entry->insecure)});
  return named;
}

TransferMeter::TransferMeter(const GlobalOptions& global, std::string label)
    : meter_(std::move(label), !global.quiet && !global.json) {}

TransferProgress TransferMeter::callback() {
  return [this](const TransferStatus& s) {
    meter_.Update(s.bytes_done, s.bytes_total > 0 ? s.bytes_total : s.bytes_done,
                  fmt::format("{}/{} objects", s.objects_done, s.objects_total));
  };
}

nlohmann::json TransferJson(const TransferReport& r, const NamedRemote& remote) {
  return {{"remote", remote.name},
          {"url", remote.url},
          {"versions", r.versions},
          {"versions_present", r.versions_present},
          {"objects", r.objects},
          {"objects_present", r.objects_present},
          {"bytes", r.bytes},
          {"evaluations", r.evaluations},
          {"refs", r.refs}};
}

void PrintTransfer(const GlobalOptions& global, const TransferReport& r, const std::string& verb,
                   const NamedRemote& remote) {
  if (global.json) {
    PrintJson(TransferJson(r, remote));
    return;
  }
  if (global.quiet) return;
  const std::string where = remote.name == remote.url ? remote.url : fmt::format("{} ({})", remote.name, remote.url);
  if (r.versions == 0 && r.refs.empty()) {
    std::cout << fmt::format("{} {}: up to date\n", verb, where);
    return;
  }
  std::cout << fmt::format("{} {}: {} version{}, {} object{} ({}); {} object{} there already\n", verb, where,
                           r.versions, r.versions == 1 ? "" : "s", r.objects, r.objects == 1 ? "" : "s",
                           FormatBytes(r.bytes), r.objects_present, r.objects_present == 1 ? " was" : "s were");
  for (const auto& ref : r.refs) std::cout << "  " << ref << "\n";
}

}  // namespace fomo::cmd

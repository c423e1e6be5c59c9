// What the sharing commands (remote, clone, push, fetch, pull) have in common:
// naming a remote (a configured name or a URL), showing a transfer's progress,
// and printing what it moved.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cmd/command.hpp"
#include "cmd/output.hpp"
#include "storage/remote.hpp"
#include "storage/transfer.hpp"

namespace fomo::cmd {

struct NamedRemote {
  std::string name;  // the configured name, or the URL itself
  std::string url;
  std::unique_ptr<Remote> remote;
};

// The remote NAME_OR_URL names: a remote of the repository's config, else a URL
// or path. Empty: origin, else the only remote. create: a new directory may be
// made (push).
// insecure: plain http to a registry, besides the remote's own setting.
NamedRemote OpenNamedRemote(const Repository& repo, const std::string& name_or_url, bool create = false,
                            bool insecure = false);

// A meter of the bytes moved (with rate and ETA) on a terminal, plain lines when
// piped; nothing with --quiet or --json.
class TransferMeter {
 public:
  TransferMeter(const GlobalOptions& global, std::string label);
  TransferProgress callback();
  void Finish() { meter_.Finish(); }

 private:
  ProgressMeter meter_;
};

nlohmann::json TransferJson(const TransferReport& report, const NamedRemote& remote);
// "pushed to origin (URL): 3 versions, 120 objects (45.2 MiB); 12 objects there already" and the refs moved.
void PrintTransfer(const GlobalOptions& global, const TransferReport& report, const std::string& verb,
                   const NamedRemote& remote);

}  // namespace fomo::cmd

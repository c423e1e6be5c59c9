// fomo fetch [REMOTE] [--unshallow]: brings the remote's versions, objects and
// evaluations here; its branches become REMOTE/BRANCH, its tags tags here.
#include "cmd/command.hpp"
#include "cmd/remote_access.hpp"
#include "storage/transfer.hpp"

namespace fomo::cmd {

namespace {

struct FetchOptions {
  bool insecure = false;
  std::string remote;
  bool unshallow = false;
};

int RunFetch(Context& ctx, const FetchOptions& o) {
  Repository& repo = ctx.repo();
  NamedRemote remote = OpenNamedRemote(repo, o.remote, /*create=*/false, o.insecure);
  FetchRequest request;
  request.remote_name = remote.name;
  request.unshallow = o.unshallow;
  TransferMeter meter(ctx.global, "receiving objects");
  const TransferReport report = Fetch(repo, *remote.remote, request, meter.callback());
  meter.Finish();
  PrintTransfer(ctx.global, report, "fetched from", remote);
  return 0;
}

}  // namespace

Runner SetupFetch(CommandLine& cli) {
  auto o = std::make_shared<FetchOptions>();
  cli.Option("remote", &o->remote, "a remote's name or a URL (default origin)", "REMOTE");
  cli.Flag("--unshallow", &o->unshallow, "bring the tensors a shallow clone (--depth) left out");
  cli.Flag("--insecure", &o->insecure, "plain http to a registry given by URL (one on localhost)");
  return [o](Context& ctx) { return RunFetch(ctx, *o); };
}

}  // namespace fomo::cmd

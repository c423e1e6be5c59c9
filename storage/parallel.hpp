// A minimal parallel loop: workers take indices from a shared counter, the first
// exception stops the loop and is rethrown to the caller.
#pragma once

#include <cstddef>
#include <functional>

namespace fomo {

// 0 means one worker per hardware thread.
size_t ResolveThreads(size_t requested);
void ParallelFor(size_t count, size_t threads, const std::function<void(size_t)>& body);

}  // namespace fomo

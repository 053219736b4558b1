// The NCCL backend of dist::Communicator. Compiled with NCCL when LibTorch has CUDA and NCCL was
// found (CXR_HAVE_NCCL); otherwise asking for it is a clear error.
#include "common/error.hpp"
#include "dist/communicator.hpp"

namespace cxr::dist {

#ifndef CXR_HAVE_NCCL
bool nccl_available() { return false; }

std::shared_ptr<Communicator> make_nccl_communicator(const World&, int) {
  throw RuntimeError("this build of cxr-denoise has no NCCL backend: it was built against a LibTorch without CUDA "
                     "(rebuild with a CUDA LibTorch, for example the PyPI torch wheel's)");
}
#endif

}  // namespace cxr::dist

# Every external dependency, found once. scripts/deps.sh installs them on Debian/Ubuntu.
find_package(PkgConfig REQUIRED)
find_package(MPI REQUIRED COMPONENTS C)
find_package(Threads REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(ZLIB REQUIRED)
find_package(doctest REQUIRED)
pkg_check_modules(SPNG REQUIRED IMPORTED_TARGET spng)

# yaml-cpp 0.7 (Debian 12) exports a plain "yaml-cpp" target; newer ones yaml-cpp::yaml-cpp.
if(TARGET yaml-cpp::yaml-cpp)
  set(CXR_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(CXR_YAML_TARGET yaml-cpp)
endif()

add_library(cxr_hdf5 INTERFACE)
target_include_directories(cxr_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(cxr_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(cxr_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})

if(CXR_WITH_TORCH)
  # LibTorch: Debian's libtorch-dev by default; another one (for example the PyPI wheel's,
  # CMAKE_PREFIX_PATH=<site-packages>/torch) through CMAKE_PREFIX_PATH. Point at the torch
  # package root, not only share/cmake: TorchConfig searches its libraries under <prefix>/lib
  # after the system paths, so a system libtorch would otherwise win.
  find_package(Torch REQUIRED)
  get_filename_component(CXR_TORCH_LIBDIR "${TORCH_LIBRARY}" DIRECTORY)
  set(CXR_TORCH_VERSION "${Torch_VERSION}")
  message(STATUS "cxr: LibTorch ${CXR_TORCH_VERSION} from ${CXR_TORCH_LIBDIR}")

  add_library(cxr_torch_deps INTERFACE)
  # SYSTEM: LibTorch's headers are not ours to make warning-free.
  target_include_directories(cxr_torch_deps SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  # libstdc++ first: some PyPI wheels (torch 2.5 to 2.11 at least, pytorch/pytorch#133437) export
  # strong copies of std::filesystem (and other libstdc++ internals) from libtorch.so and
  # libtorch_cpu.so. A program that lists them before libstdc++ binds its own calls to those
  # copies, and remove_all crashes (seen with torch 2.11 on Ubuntu 24.04).
  # tests/integration/cli.sh checks the order.
  target_link_libraries(cxr_torch_deps INTERFACE stdc++ ${TORCH_LIBRARIES})
  # LibTorch 2.x ships its own fmt headers (a newer major version than Debian's), and they come
  # first on the include path of every LibTorch translation unit. Use them header-only there
  # (their symbols live in another inline namespace than libfmt's, so the two never clash), and
  # keep spdlog, which needs Debian's fmt, out of those units (lib/common/log.hpp).
  if(EXISTS "${CXR_TORCH_LIBDIR}/../include/fmt/format.h")
    target_compile_definitions(cxr_torch_deps INTERFACE FMT_HEADER_ONLY=1)
  endif()
  # The PyPI wheel finds its CUDA libraries (NCCL, cuDNN, ...) beside it in site-packages/nvidia
  # through RUNPATH; the linker needs to be told, or it binds to /usr/local/cuda's older NCCL.
  file(GLOB _cxr_wheel_nvidia_libs LIST_DIRECTORIES true "${CXR_TORCH_LIBDIR}/../../nvidia/*/lib")
  foreach(_d ${_cxr_wheel_nvidia_libs})
    target_link_options(cxr_torch_deps INTERFACE "-Wl,-rpath-link,${_d}")
  endforeach()

  # NCCL for the CUDA path: only with a CUDA LibTorch. The same NCCL LibTorch uses (the wheel's
  # own, in site-packages/nvidia/nccl), else CXR_NCCL_ROOT, else the CUDA toolkit's.
  set(CXR_HAVE_NCCL OFF)
  if(TORCH_CUDA_LIBRARIES)
    set(_nccl_roots ${CXR_NCCL_ROOT} "${CXR_TORCH_LIBDIR}/../../nvidia/nccl" /usr/local/cuda)
    foreach(_r ${_nccl_roots})
      if(EXISTS "${_r}/include/nccl.h")
        find_library(CXR_NCCL_LIBRARY NAMES nccl libnccl.so.2 PATHS "${_r}/lib" "${_r}/lib64" NO_DEFAULT_PATH)
        if(CXR_NCCL_LIBRARY)
          set(CXR_NCCL_INCLUDE_DIR "${_r}/include")
          break()
        endif()
      endif()
    endforeach()
    if(CXR_NCCL_LIBRARY)
      set(CXR_HAVE_NCCL ON)
      find_package(CUDAToolkit REQUIRED)
      add_library(cxr_nccl INTERFACE)
      target_include_directories(cxr_nccl SYSTEM INTERFACE "${CXR_NCCL_INCLUDE_DIR}")
      target_link_libraries(cxr_nccl INTERFACE "${CXR_NCCL_LIBRARY}" CUDA::cudart)
      target_compile_definitions(cxr_nccl INTERFACE CXR_HAVE_NCCL=1)
      message(STATUS "cxr: NCCL backend on, ${CXR_NCCL_LIBRARY}")
    else()
      message(WARNING "cxr: LibTorch has CUDA but no NCCL was found (set CXR_NCCL_ROOT); the NCCL backend is off")
    endif()
  endif()
endif()

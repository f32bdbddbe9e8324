// libcuda.so.1's build stamp (build_stamp.h), which the other guest libraries
// check against their own when they load.
#include "build_stamp.h"

#include "vgpu_build_stamp.h"  // generated: VGPU_BUILD_STAMP

// The bytes live under a hidden name and the exported one is its alias, so
// nothing inside libcuda.so.1 refers to the exported symbol through the
// dynamic symbol table (a sanitizer build registers its globals by address:
// with the exported name that was a dynamic relocation, which fails when the
// name is absent, as tests/guest/mixed_install_test.sh makes it).
extern "C" __attribute__((visibility("hidden"))) const char vgpu_build_stamp_bytes[] = VGPU_BUILD_STAMP;
extern "C" __attribute__((visibility("default"), alias("vgpu_build_stamp_bytes"))) const char vgpu_build_stamp[sizeof VGPU_BUILD_STAMP];

// libcuda.so.1's build stamp (build_stamp.h), which the other guest libraries
// check against their own when they load.
#include "build_stamp.h"

#include "vgpu_build_stamp.h"  // generated: VGPU_BUILD_STAMP

extern "C" __attribute__((visibility("default"))) const char vgpu_build_stamp[] = VGPU_BUILD_STAMP;

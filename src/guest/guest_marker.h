// The mark of our guest libraries: each of them (libcuda, libcudart,
// libcublas, libcublasLt, libnvidia-ml) exports `vgpu_guest_marker`, so the
// installer (vgpu-install looks for the name in the file) and the host daemon
// (which refuses to run with our libraries on its library path) can tell them
// from NVIDIA's. Expand VGPU_DEFINE_GUEST_MARKER() once per library.
//
// Weak: a process loads several of our libraries, each defines the marker,
// and any copy is as good as another; strong definitions of one name in
// several libraries are an ODR violation, which ASan's checker stops on.
#pragma once

#define VGPU_DEFINE_GUEST_MARKER() \
  extern "C" __attribute__((visibility("default"), weak)) const char vgpu_guest_marker[] = "vgpu guest library"

// The internal ABI stamp of our guest libraries. They share C++ symbols
// (vgpu::guest::*, vgpu::Arena::*: the client lives in libcuda.so.1 only, and
// the others call into it), so a libcudart.so.13 of one build must never run
// over a libcuda.so.1 of another: a struct that gained a field, or a call whose
// meaning changed, would be misread silently. An installer that copies files
// one by one (or a stale file left on the library path) makes such a mix.
//
// The stamp names one build: the git commit it was built from and a hash of
// the headers that declare what crosses between our libraries (build_stamp.cmake
// writes it at build time, so a commit or a header change gives a new stamp).
// libcuda.so.1 defines and exports it (its one entry in libcuda.map); every
// other guest library compiles in build_stamp_check.cc, whose load-time
// constructor compares libcuda's stamp with its own and refuses a mismatch.
#pragma once

extern "C" {
// "vgpu-build commit <12 hex> interface <12 hex>", NUL-terminated.
extern const char vgpu_build_stamp[];
}

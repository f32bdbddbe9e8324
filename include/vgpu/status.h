// Status codes on the wire. They are CUresult's values, so the driver-API
// library returns them as they are and the runtime maps them the way
// NVIDIA's runtime does. Defined here so the ring, the host's CPU backend and
// the tests need no CUDA header.
#pragma once

#include <cstdint>

namespace vgpu {

using Status = int32_t;

namespace st {
inline constexpr Status kOk = 0;
inline constexpr Status kInvalidValue = 1;
inline constexpr Status kOutOfMemory = 2;
inline constexpr Status kNotInitialized = 3;
inline constexpr Status kDeinitialized = 4;
inline constexpr Status kDeviceUnavailable = 46;  // the host daemon went away
inline constexpr Status kNoDevice = 100;
inline constexpr Status kInvalidDevice = 101;
inline constexpr Status kInvalidImage = 200;
inline constexpr Status kInvalidContext = 201;
inline constexpr Status kNoBinaryForGpu = 209;
inline constexpr Status kInvalidSource = 300;
inline constexpr Status kOperatingSystem = 304;
inline constexpr Status kInvalidHandle = 400;
inline constexpr Status kIllegalState = 401;
inline constexpr Status kNotFound = 500;
inline constexpr Status kNotReady = 600;
inline constexpr Status kIllegalAddress = 700;
inline constexpr Status kLaunchOutOfResources = 701;
inline constexpr Status kLaunchFailed = 719;
inline constexpr Status kNotPermitted = 800;
inline constexpr Status kNotSupported = 801;
inline constexpr Status kSystemNotReady = 802;
inline constexpr Status kStreamCaptureUnsupported = 900;
inline constexpr Status kStreamCaptureInvalidated = 901;
inline constexpr Status kUnknown = 999;
}  // namespace st

}  // namespace vgpu

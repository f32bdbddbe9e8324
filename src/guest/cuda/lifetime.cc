// The session ends when the library is unloaded: ELF destructors of
// libcuda.so.1 run after the static destructors of everything that uses it
// (it is their dependency), so late cudaFree calls still reach the host.
#include "driver.h"

__attribute__((destructor)) static void vgpu_guest_fini() {
  if (vgpu::guest::Client* c = vgpu::guest::Client::existing()) c->shutdown();
}

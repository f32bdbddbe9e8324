# cuda_backend_test: CudaBackend on a real GPU through the Backend interface,
# loading the built module by path as the daemon does, and a session over it
# ending with one object of every kind (cuda_session_test.cc: the session's
# teardown on the GPU). Skips (with the reason) where there is no driver or
# no GPU. The test kernels are compiled to a fatbin at build time when nvcc
# is there. Included from tests/host/CMakeLists.txt.
if(GTest_FOUND AND CUDAToolkit_FOUND AND TARGET vgpu_backend_cuda)
  include(GoogleTest)
  add_executable(cuda_backend_test ${CMAKE_CURRENT_LIST_DIR}/cuda_backend_test.cc
                                   ${CMAKE_CURRENT_LIST_DIR}/cuda_session_test.cc)
  target_include_directories(cuda_backend_test PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src/host ${CUDAToolkit_INCLUDE_DIRS})
  # vgpu_host: the session and its handlers, for cuda_session_test.cc.
  target_link_libraries(cuda_backend_test PRIVATE vgpu_host GTest::gtest GTest::gtest_main ${CMAKE_DL_LIBS})
  target_compile_definitions(cuda_backend_test PRIVATE
    VGPU_CUDA_BACKEND_PATH="$<TARGET_FILE:vgpu_backend_cuda>")
  add_dependencies(cuda_backend_test vgpu_backend_cuda)
  if(CUDAToolkit_NVCC_EXECUTABLE)
    set(vgpu_cuda_test_fatbin ${CMAKE_CURRENT_BINARY_DIR}/cuda_backend_kernels.fatbin)
    add_custom_command(
      OUTPUT ${vgpu_cuda_test_fatbin}
      COMMAND ${CUDAToolkit_NVCC_EXECUTABLE} -fatbin -arch=sm_90 -o ${vgpu_cuda_test_fatbin}
              ${CMAKE_CURRENT_LIST_DIR}/cuda_backend_kernels.cu
      DEPENDS ${CMAKE_CURRENT_LIST_DIR}/cuda_backend_kernels.cu
      COMMENT "nvcc -fatbin: cuda_backend_test kernels"
      VERBATIM)
    add_custom_target(cuda_backend_test_kernels DEPENDS ${vgpu_cuda_test_fatbin})
    add_dependencies(cuda_backend_test cuda_backend_test_kernels)
    target_compile_definitions(cuda_backend_test PRIVATE VGPU_TEST_FATBIN="${vgpu_cuda_test_fatbin}")
  endif()
  # One at a time: cuda_session_test.cc compares the device's free memory
  # before and after a session, which another GPU test would disturb.
  gtest_discover_tests(cuda_backend_test DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "host;gpu" RUN_SERIAL TRUE)
endif()

# `cmake --install` into a scratch prefix puts every file where the man
# page and the systemd unit say it is.
set(prefix ${BUILD}/install-check)
file(REMOVE_RECURSE ${prefix})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix}
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f bin/keyhole bin/keyhole-net bin/keyhole-gateway bin/keyhole-audit
    share/man/man8/keyhole.8 share/man/man5/keyhole-audit.5
    lib/systemd/system/keyhole@.service lib/systemd/system/keyhole@.socket
    share/keyhole/policy/paperclip.policy)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "missing after install: ${f}")
  endif()
endforeach()
execute_process(COMMAND ${prefix}/bin/keyhole --version OUTPUT_VARIABLE v RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT v MATCHES "^keyhole ")
  message(FATAL_ERROR "installed keyhole does not run: ${v}")
endif()
message(STATUS "install layout ok: ${v}")

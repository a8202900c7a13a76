# The hardening the build promises, read back from the built binaries
# (ctest `hardening`; run by every build, CI's Release stage included):
#
#   PIE             readelf -h: Type DYN; readelf -d: FLAGS_1 has PIE
#   full RELRO      readelf -l: a GNU_RELRO segment; readelf -d: BIND_NOW
#                   (FLAGS BIND_NOW or FLAGS_1 NOW), so the GOT is
#                   read-only before main()
#   no exec stack   readelf -l: GNU_STACK is RW, not RWE
#   stack protector readelf --dyn-syms: __stack_chk_fail is imported
#   FORTIFY         some __*_chk function other than __stack_chk_fail is
#                   imported, in every optimised standard build type
#                   (Release, RelWithDebInfo, MinSizeRel: whatever
#                   CMakeLists.txt concluded) and whenever CMakeLists.txt
#                   says it turned FORTIFY on (FORTIFY=ON)
#
#   static          STATIC_BINARIES only (keyhole-gateway-static): a
#                   static PIE, no PT_INTERP and no DT_NEEDED at all; the
#                   stack protector and FORTIFY read from its own symbol
#                   table (readelf --syms: there is no dynamic one)
#
#   cmake -DBINARIES=a,b,c [-DSTATIC_BINARIES=d] -DBUILD_TYPE=T
#         -DFORTIFY=ON|OFF [-DREADELF=readelf] -P this
if(NOT DEFINED READELF OR READELF STREQUAL "")
  set(READELF readelf)
endif()
string(REPLACE "," ";" bins "${BINARIES}")
if(BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  set(FORTIFY ON)
endif()
set(failed "")

function(readelf out)
  execute_process(COMMAND ${READELF} -W ${ARGN} OUTPUT_VARIABLE text
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${READELF} ${ARGN} failed: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

string(REPLACE "," ";" static_bins "${STATIC_BINARIES}")
foreach(bin ${bins} ${static_bins})
  list(FIND static_bins "${bin}" is_static)
  get_filename_component(name ${bin} NAME)
  if(NOT EXISTS ${bin})
    message(FATAL_ERROR "${bin} was not built")
  endif()
  set(miss "")
  readelf(hdr -h ${bin})
  readelf(dyn -d ${bin})
  readelf(seg -l ${bin})
  if(is_static LESS 0)
    readelf(sym --dyn-syms ${bin})
  else()
    readelf(sym --syms ${bin})
    if(seg MATCHES "INTERP" OR dyn MATCHES "\\(NEEDED\\)")
      list(APPEND miss "static linking (it has an interpreter or needs a shared library)")
    endif()
  endif()
  # readelf text, regular expression, what is missing when it does not match
  foreach(check
      "hdr;Type:[ \t]+DYN;PIE (ELF type is not DYN)"
      "dyn;\\(FLAGS_1\\)[^\n]*PIE;PIE (no FLAGS_1 PIE)"
      "seg;GNU_RELRO;RELRO (no GNU_RELRO segment)"
      "dyn;\\(FLAGS(_1)?\\)[^\n]*(BIND_)?NOW;BIND_NOW (lazy binding: -z now missing)"
      "seg;GNU_STACK[^\n]* RW  ;non-executable stack (GNU_STACK is not RW)"
      "sym;__stack_chk_fail;stack protector (__stack_chk_fail not imported)")
    list(GET check 0 text)
    list(GET check 1 re)
    list(GET check 2 what)
    if(NOT "${${text}}" MATCHES "${re}")
      list(APPEND miss "${what}")
    endif()
  endforeach()
  string(REGEX MATCHALL "__[a-z0-9_]+_chk" chk "${sym}")
  list(REMOVE_ITEM chk __stack_chk)
  list(REMOVE_DUPLICATES chk)
  if(FORTIFY AND chk STREQUAL "")
    list(APPEND miss "_FORTIFY_SOURCE (no __*_chk function imported)")
  endif()
  if(miss)
    string(REPLACE ";" ", " miss "${miss}")
    message(SEND_ERROR "${name}: missing ${miss}")
    set(failed 1)
  else()
    string(REPLACE ";" " " chk "${chk}")
    message(STATUS "${name}: PIE, RELRO, BIND_NOW, NX stack, stack protector, "
      "FORTIFY=${FORTIFY} (${chk})")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "hardening check failed")
endif()

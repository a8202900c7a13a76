# The trust boundary as a property of the tree (ctest `boundary`, every
# build): a binary contains no code of a directory it must never run.
#
#   keyhole          (the parent, holds the credential) nothing of
#                    src/parse/ (parsers of sandbox bytes) or src/unpriv/
#                    (the child), and no cJSON: SECURITY.md I2
#   keyhole-gateway  (in the sandbox) nothing of src/unpriv/ or src/priv/
#   keyhole          nothing of src/audit/ (the audit log's verifier) either
#   keyhole-audit    (reads forged logs) nothing of src/priv/ or src/unpriv/
#
# How: every global symbol an archive of a forbidden directory defines
# (nm --defined-only) must be absent from the binary's symbol table, and
# no forbidden library may be among its DT_NEEDED entries.  A binary
# without a symbol table cannot be judged: it fails rather than passes.
# CMakeLists.txt refuses the same links when it configures (kh_forbid);
# this test also catches code copied into another directory.
#
#   cmake -DNM=nm -DREADELF=readelf
#         "-DCHECKS=bin=lib.a,lib.a|bin=lib.a" [-DNEEDED=bin=libcjson] -P this
if(NOT DEFINED NM OR NM STREQUAL "")
  set(NM nm)
endif()
if(NOT DEFINED READELF OR READELF STREQUAL "")
  set(READELF readelf)
endif()
set(failed "")

function(symbols out file)
  execute_process(COMMAND ${NM} --defined-only -g --format=posix ${file}
    OUTPUT_VARIABLE text RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${file} failed: ${err}")
  endif()
  string(REGEX MATCHALL "(^|\n)[A-Za-z_][A-Za-z0-9_.]* [TDBRVW] " lines "${text}")
  set(names "")
  foreach(l ${lines})
    string(STRIP "${l}" l)
    string(REGEX REPLACE " .*" "" l "${l}")
    list(APPEND names "${l}")
  endforeach()
  list(REMOVE_DUPLICATES names)
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

string(REPLACE "|" ";" checks "${CHECKS}")
foreach(check ${checks})
  string(REGEX REPLACE "=.*" "" bin "${check}")
  string(REGEX REPLACE "^[^=]*=" "" libs "${check}")
  string(REPLACE "," ";" libs "${libs}")
  get_filename_component(bname ${bin} NAME)
  if(NOT EXISTS ${bin})
    message(FATAL_ERROR "${bin} was not built")
  endif()
  symbols(have ${bin})
  list(FIND have main at)
  if(at LESS 0)
    list(APPEND failed "${bname}: no symbol table (stripped?): cannot be judged")
    continue()
  endif()
  foreach(lib ${libs})
    get_filename_component(lname ${lib} NAME)
    symbols(forbidden ${lib})
    list(LENGTH forbidden nf)
    if(nf EQUAL 0)
      list(APPEND failed "${lname}: defines no symbol: nothing to compare")
    endif()
    foreach(s ${forbidden})
      list(FIND have "${s}" at)
      if(at GREATER_EQUAL 0)
        list(APPEND failed "${bname} contains ${s} (from ${lname})")
      endif()
    endforeach()
  endforeach()
endforeach()

string(REPLACE "|" ";" needed "${NEEDED}")
foreach(pair ${needed})
  string(REGEX REPLACE "=.*" "" bin "${pair}")
  string(REGEX REPLACE "^[^=]*=" "" lib "${pair}")
  get_filename_component(bname ${bin} NAME)
  execute_process(COMMAND ${READELF} -W -d ${bin} OUTPUT_VARIABLE dyn
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${READELF} -d ${bin} failed")
  endif()
  if(dyn MATCHES "NEEDED\\)[^\n]*\\[${lib}[^]]*\\]")
    list(APPEND failed "${bname} needs ${lib}")
  endif()
endforeach()

if(failed)
  string(REPLACE ";" "\n  " failed "${failed}")
  message(FATAL_ERROR "boundary broken:\n  ${failed}")
endif()
message(STATUS "boundary: ${CHECKS}: no forbidden code")

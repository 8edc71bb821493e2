# Installs systemd/gatehouse.service and gatehouse.socket with the paths of this
# installation in them: run by `cmake --install` (install(SCRIPT) in the top-level
# CMakeLists.txt), so the prefix is the one given at install time
# (`cmake --install build --prefix P` gives ExecStart=P/bin/…).
# Set before: GATEHOUSE_UNIT_SOURCE_DIR, GATEHOUSE_UNIT_BUILD_DIR (where the edited copies go),
# GATEHOUSE_UNIT_DIR, GATEHOUSE_BINDIR, GATEHOUSE_DOCDIR (relative: under the prefix).
foreach(var UNIT_DIR BINDIR DOCDIR)
  if(IS_ABSOLUTE "${GATEHOUSE_${var}}")
    set(full_${var} "${GATEHOUSE_${var}}")
  else()
    set(full_${var} "${CMAKE_INSTALL_PREFIX}/${GATEHOUSE_${var}}")
  endif()
endforeach()

foreach(name gatehouse.service gatehouse.socket)
  file(READ "${GATEHOUSE_UNIT_SOURCE_DIR}/${name}" unit)
  string(REPLACE "=/usr/bin/gatehouse " "=${full_BINDIR}/gatehouse " unit "${unit}")
  string(REPLACE "file:/usr/share/doc/gatehouse/" "file:${full_DOCDIR}/" unit "${unit}")
  if(name STREQUAL "gatehouse.service")
    string(FIND "${unit}" "ExecStart=${full_BINDIR}/gatehouse serve " found)
    if(found EQUAL -1)
      message(FATAL_ERROR "${GATEHOUSE_UNIT_SOURCE_DIR}/${name}: no ExecStart=/usr/bin/gatehouse serve … to point at ${full_BINDIR}")
    endif()
  endif()
  file(WRITE "${GATEHOUSE_UNIT_BUILD_DIR}/${name}" "${unit}")
  # file(INSTALL) adds $DESTDIR, prints "-- Installing:" and records the file in
  # install_manifest.txt, like the install() rules.
  file(INSTALL DESTINATION "${full_UNIT_DIR}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${GATEHOUSE_UNIT_BUILD_DIR}/${name}")
endforeach()

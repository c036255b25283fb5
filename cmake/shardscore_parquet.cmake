# Decides whether Parquet input/output is built and finds Apache Arrow C++ with Parquet for it.
# Sets SHARDSCORE_HAVE_PARQUET and, when ON, the targets shardscore::arrow (Arrow + Parquet).
#
# Where Arrow comes from, in order:
#   1. find_package(Arrow) / find_package(Parquet): a system or conda install, or -DArrow_DIR=...;
#   2. the pyarrow wheel in the project's virtualenv (scripts/requirements.txt pins it): it ships
#      libarrow.so.NNN and libparquet.so.NNN with their headers. Its directory is asked from
#      SHARDSCORE_PYTHON (or given as -DSHARDSCORE_PYARROW_DIR=...). The libraries are imported by
#      their versioned file names, and the build RPATH points at that folder, so the binary runs
#      without LD_LIBRARY_PATH.
# SHARDSCORE_PARQUET=AUTO builds without Parquet when neither is found (a Parquet path is then an
# error at run time); ON makes Arrow required; OFF skips it.
set(SHARDSCORE_PARQUET AUTO CACHE STRING "Parquet input/output through Apache Arrow C++: AUTO (when Arrow is found), ON, OFF")
set_property(CACHE SHARDSCORE_PARQUET PROPERTY STRINGS AUTO ON OFF)
set(SHARDSCORE_PYARROW_DIR "" CACHE PATH "pyarrow package folder to take Arrow C++ from (default: asked from SHARDSCORE_PYTHON)")
set(SHARDSCORE_HAVE_PARQUET OFF)
set(SHARDSCORE_ARROW_SOURCE "")

if(NOT SHARDSCORE_PARQUET STREQUAL "OFF")
  find_package(Arrow CONFIG QUIET)
  find_package(Parquet CONFIG QUIET)
  if(Arrow_FOUND AND Parquet_FOUND)
    add_library(shardscore_arrow INTERFACE)
    target_link_libraries(shardscore_arrow INTERFACE Parquet::parquet_shared Arrow::arrow_shared)
    set(SHARDSCORE_ARROW_SOURCE "find_package (Arrow ${Arrow_VERSION} in ${Arrow_DIR})")
    set(SHARDSCORE_HAVE_PARQUET ON)
  else()
    set(pyarrow_dir "${SHARDSCORE_PYARROW_DIR}")
    if(NOT pyarrow_dir AND EXISTS "${SHARDSCORE_PYTHON}")
      execute_process(
        COMMAND "${SHARDSCORE_PYTHON}" -c "import os, pyarrow; print(os.path.dirname(pyarrow.__file__))"
        OUTPUT_VARIABLE pyarrow_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        set(pyarrow_dir "")
      endif()
    endif()
    set(arrow_lib "")
    set(parquet_lib "")
    if(pyarrow_dir)
      file(GLOB arrow_lib "${pyarrow_dir}/libarrow.so.[0-9]*")
      file(GLOB parquet_lib "${pyarrow_dir}/libparquet.so.[0-9]*")
    endif()
    if(arrow_lib AND parquet_lib AND EXISTS "${pyarrow_dir}/include/parquet/arrow/reader.h")
      list(GET arrow_lib 0 arrow_lib)
      list(GET parquet_lib 0 parquet_lib)
      get_filename_component(arrow_soname "${arrow_lib}" NAME)
      get_filename_component(parquet_soname "${parquet_lib}" NAME)
      add_library(shardscore_pyarrow_arrow SHARED IMPORTED)
      set_target_properties(shardscore_pyarrow_arrow PROPERTIES IMPORTED_LOCATION "${arrow_lib}"
        IMPORTED_SONAME "${arrow_soname}" INTERFACE_INCLUDE_DIRECTORIES "${pyarrow_dir}/include")
      add_library(shardscore_pyarrow_parquet SHARED IMPORTED)
      set_target_properties(shardscore_pyarrow_parquet PROPERTIES IMPORTED_LOCATION "${parquet_lib}"
        IMPORTED_SONAME "${parquet_soname}" INTERFACE_LINK_LIBRARIES shardscore_pyarrow_arrow)
      add_library(shardscore_arrow INTERFACE)
      target_link_libraries(shardscore_arrow INTERFACE shardscore_pyarrow_parquet shardscore_pyarrow_arrow)
      # The wheel's headers are not ours to warn about.
      target_include_directories(shardscore_arrow SYSTEM INTERFACE "${pyarrow_dir}/include")
      set(SHARDSCORE_ARROW_SOURCE "the pyarrow wheel in ${pyarrow_dir} (${arrow_soname}, ${parquet_soname})")
      set(SHARDSCORE_HAVE_PARQUET ON)
    elseif(SHARDSCORE_PARQUET STREQUAL "ON")
      message(FATAL_ERROR
        "SHARDSCORE_PARQUET=ON but Apache Arrow C++ with Parquet was found neither by find_package(Arrow/Parquet) "
        "nor as a pyarrow wheel (looked in '${pyarrow_dir}', asked from ${SHARDSCORE_PYTHON}). "
        "Run scripts/setup.sh (it installs pyarrow into .venv), set Arrow_DIR/Parquet_DIR, or -DSHARDSCORE_PYARROW_DIR.")
    else()
      message(WARNING "Apache Arrow C++ with Parquet not found: building without Parquet input/output "
                      "(run scripts/setup.sh, which installs the pyarrow wheel that provides it)")
    endif()
  endif()
endif()
if(SHARDSCORE_HAVE_PARQUET)
  add_library(shardscore::arrow ALIAS shardscore_arrow)
  message(STATUS "Parquet through Apache Arrow C++ from ${SHARDSCORE_ARROW_SOURCE}")
endif()

// wasmforge: make the standard streams of the node flavor (NODERAWFS) behave like file descriptors.
//
// Emscripten 3.1.69 implements fstat(fd) as stat(stream.path), and NODERAWFS opens fds 0-2 with an
// empty path, so fstat(0..2) fails with ENOENT and CPython starts with sys.stdin, sys.stdout and
// sys.stderr set to None. NODERAWFS also marks the three streams as terminals whatever they are, so
// a piped stdin would start the interactive prompt.
//
// This runs before the file system is initialised (preRun): it names the three streams
// /dev/stdin, /dev/stdout and /dev/stderr, answers a stat of those names with fstat of the host's
// descriptor (what fstat means), and asks the host whether each one is a terminal.
//
// Emscripten 6.0.5 has the opposite bug: its NODERAWFS fstat reads `stream.node.node_ops`, and a
// stream NODERAWFS opens on a host descriptor has no node, so every fstat (of the standard
// streams and of every opened file) throws a TypeError and CPython dies at start-up. Where fstat
// throws that, the host's descriptor is asked instead; where it works (3.1.69) it is not touched.
//
// Emscripten 6.0.5 also hands the interpreter the host's whole environment, PATH included; with
// no way to start a process, a PATH naming host programs only misleads (shutil.which finds
// bunzip2, and subprocess then fails). PATH is "/", emscripten's own default and 3.1.69's value.
// Only internal names of the emscripten release in the toolchain lock are used; if they are missing
// the patch does nothing rather than break start-up.
Module["preRun"] = [].concat(Module["preRun"] || [], function wasmforgeNodeStdio() {
  if (typeof NODERAWFS === "undefined" || typeof FS.createStandardStreams !== "function") {
    return;
  }
  var tty = require("tty");
  if (typeof ENV === "object") ENV.PATH = "/";
  var hostFds = { "/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2 };

  var createStandardStreams = FS.createStandardStreams;
  FS.createStandardStreams = function () {
    createStandardStreams.apply(null, arguments);
    Object.keys(hostFds).forEach(function (path) {
      var stream = FS.getStream(hostFds[path]);
      stream.path = path;
      stream.tty = tty.isatty(hostFds[path]);
    });
  };

  var fstat = FS.fstat;
  FS.fstat = function (fd) {
    try {
      return fstat(fd);
    } catch (e) {
      var stream = FS.getStream(fd);
      if (!(e instanceof TypeError) || !stream || stream.nfd === undefined) throw e;
      try {
        return fs.fstatSync(stream.nfd);
      } catch (hostError) {
        throw hostError.code ? new FS.ErrnoError(ERRNO_CODES[hostError.code]) : hostError;
      }
    }
  };

  var stat = FS.stat;
  FS.stat = function (path, dontFollow) {
    if (!Object.prototype.hasOwnProperty.call(hostFds, path)) {
      return stat(path, dontFollow);
    }
    try {
      return fs.fstatSync(hostFds[path]);
    } catch (e) {
      throw e.code ? new FS.ErrnoError(ERRNO_CODES[e.code]) : e;
    }
  };
});

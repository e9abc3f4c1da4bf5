# A stand-in for the few nixpkgs attributes nix/ uses, so that its wiring (which data reaches
# which derivation attribute) evaluates offline, with no nixpkgs. It is not nixpkgs: builders
# return the attributes they were given, and mkDerivation resolves finalAttrs. callPackageWith
# fails like nixpkgs' on an argument that is not in scope.
{
  emscriptenVersion ? "3.1.69",
}:

let
  lib = rec {
    callPackageWith =
      autoArgs: fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
        wanted = builtins.functionArgs f;
        missing = builtins.filter (name: !wanted.${name} && !(autoArgs ? ${name}) && !(args ? ${name})) (
          builtins.attrNames wanted
        );
      in
      if missing != [ ] then
        throw "stub callPackage: no argument ${builtins.head missing}"
      else
        f (builtins.intersectAttrs wanted autoArgs // args);
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    concatStrings = builtins.concatStringsSep "";
    concatMapStrings = f: list: concatStrings (map f list);
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    removePrefix =
      prefix: s:
      if hasPrefix prefix s then
        builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s
      else
        s;
    warnIf = condition: message: value: if condition then builtins.trace "warning: ${message}" value else value;
    getLicenseFromSpdxId = id: { spdxId = id; };
  };

  drv =
    attrs:
    attrs
    // {
      type = "derivation";
      outPath = "/nix/store/00000000000000000000000000000000-${attrs.name}";
    };
  tool = name: version: drv { inherit name version; };

  pkgs = {
    inherit lib;
    callPackage = lib.callPackageWith pkgs;
    stdenv.mkDerivation =
      f:
      let
        attrs = if builtins.isFunction f then f attrs else f;
      in
      drv (attrs // { name = "${attrs.pname}-${attrs.version}"; });
    fetchurl = args: drv (args // { fetcher = "fetchurl"; });
    requireFile = args: drv (args // { fetcher = "requireFile"; });
    runCommand = name: env: buildCommand: drv (env // { inherit name buildCommand; });
    linkFarm = name: entries: drv { inherit name entries; };
    emscripten = drv {
      name = "emscripten";
      version = emscriptenVersion;
      override = _: pkgs.emscripten;
    };
    llvmPackages_19 = {
      llvm = tool "llvm" "19.1.7";
      clang-unwrapped = tool "clang" "19.1.7";
      lld = tool "lld" "19.1.7";
    };
    pkgsCross.wasi32 = {
      wasilibc = tool "wasilibc" "22";
      llvmPackages_19.compiler-rt = tool "compiler-rt" "19.1.7";
    };
    binaryen = tool "binaryen" "120";
    nodejs_20 = tool "nodejs" "20.19.2";
    autoconf = tool "autoconf" "2.72";
    automake = tool "automake" "1.17";
    libtool = tool "libtool" "2.5.4";
    pkg-config = tool "pkg-config" "0.29.2";
    tcl = tool "tcl" "8.6.16";
    file = tool "file" "5.46";
    strip-nondeterminism = tool "strip-nondeterminism" "1.14.1";
    zlib = tool "zlib-native" "1.3.1";
  };
in
pkgs

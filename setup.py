"""Build the optional C kernel of SSIM; everything else is declared in pyproject.toml.

``lookalike.metrics._ssim_native`` is optional: without a C compiler the install still
succeeds and SSIM uses its OpenCV path (same values, slower).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -O3 without -ffast-math: IEEE semantics. No implicit FMA contraction (the kernel fuses
# explicitly where it may), so identical images keep giving exactly 1.
UNIX_FLAGS = ["-O3", "-ffp-contract=off"]


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        if self.compiler.compiler_type != "msvc":
            for extension in self.extensions:
                extension.extra_compile_args = [*extension.extra_compile_args, *UNIX_FLAGS]
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "lookalike.metrics._ssim_native",
            ["src/lookalike/metrics/_ssim_native.c"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
)

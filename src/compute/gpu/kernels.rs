//! The compute shaders: one WGSL file per kernel in `shaders/`, each compiled after `shaders/prelude.wgsl`
//! (exact float arithmetic and bit tests that every kernel needs; WGSL has no includes).

macro_rules! kernels {
    ($($(#[$doc:meta])* $name:ident => $file:literal, f64: $f64:literal;)*) => {
        /// A compute pipeline; each is built once per process, in `context`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Kernel {
            $($(#[$doc])* $name,)*
        }

        impl Kernel {
            /// Every kernel, in pipeline order.
            pub(crate) const ALL: &'static [Kernel] = &[$(Kernel::$name),*];

            /// The shader file, as named under `shaders/`.
            pub(crate) fn file(self) -> &'static str {
                match self {
                    $(Kernel::$name => $file,)*
                }
            }

            /// The complete shader source: the prelude, then the kernel.
            pub(crate) fn source(self) -> &'static str {
                match self {
                    $(Kernel::$name => concat!(
                        include_str!("../../../shaders/prelude.wgsl"),
                        include_str!(concat!("../../../shaders/", $file)),
                    ),)*
                }
            }

            /// True when the shader uses `f64`, which not every adapter has (`SHADER_F64`).
            pub(crate) fn needs_f64(self) -> bool {
                match self {
                    $(Kernel::$name => $f64,)*
                }
            }
        }
    };
}

kernels! {
    /// `Backend::linear`.
    Linear => "linear.wgsl", f64: false;
    /// `Backend::indices`.
    Indices => "indices.wgsl", f64: false;
    /// `Backend::classify`.
    Classify => "classify.wgsl", f64: false;
    /// `Backend::pair_moments`: f64 partial sums, so that they equal the CPU's.
    PairMoments => "pair_moments.wgsl", f64: true;
    /// `Backend::change_magnitude`.
    ChangeMagnitude => "change_magnitude.wgsl", f64: false;
    /// `Backend::box_mean`.
    BoxMean => "box_mean.wgsl", f64: false;
    /// `Backend::histogram`.
    Histogram => "histogram.wgsl", f64: false;
    /// `Backend::dilate`.
    Dilate => "dilate.wgsl", f64: false;
    /// `Backend::cloud_test`.
    CloudTest => "cloud_test.wgsl", f64: false;
    /// `Backend::temporal_update`.
    TemporalUpdate => "temporal_update.wgsl", f64: false;
    /// `Backend::height_difference`.
    HeightDifference => "height_difference.wgsl", f64: false;
    /// `Backend::slope`.
    Slope => "slope.wgsl", f64: false;
    /// `Backend::erode`: one pass along rows, then one along columns.
    Erode => "erode.wgsl", f64: false;
    /// `Backend::rgb_features`.
    RgbFeatures => "rgb_features.wgsl", f64: false;
}

impl Kernel {
    /// Short name for logs and errors.
    pub(crate) fn name(self) -> &'static str {
        self.file().trim_end_matches(".wgsl")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");

    fn validate(name: &str, source: &str) {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: WGSL does not parse:\n{}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: WGSL does not validate:\n{}", e.emit_to_string(source)));
    }

    /// Every file in shaders/ parses and validates as the engine compiles it (kernels after the prelude),
    /// without a GPU; and every file is a kernel the engine builds, so none is dead or missing.
    #[test]
    fn every_shader_validates_with_naga() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut on_disk = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wgsl") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                if name == "prelude.wgsl" {
                    validate(&name, &text);
                } else {
                    validate(&name, &format!("{PRELUDE}{text}"));
                    on_disk.insert(name);
                }
            }
        }
        let built: BTreeSet<String> = Kernel::ALL.iter().map(|k| k.file().to_string()).collect();
        assert_eq!(on_disk, built, "shaders/ and Kernel::ALL disagree");
        for k in Kernel::ALL {
            validate(k.name(), k.source());
        }
    }

    /// Only the kernels that declare f64 use it, so adapters without SHADER_F64 run all the others.
    #[test]
    fn f64_is_declared_where_used() {
        for k in Kernel::ALL {
            let module = naga::front::wgsl::parse_str(k.source()).unwrap();
            let caps = naga::valid::Capabilities::all() - naga::valid::Capabilities::FLOAT64;
            let without = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps).validate(&module);
            assert_eq!(without.is_err(), k.needs_f64(), "{}", k.name());
        }
    }
}

//! The store's per-pixel state blobs (JTS4, JTS3 read and upgraded, and the old JTS2 layout): never a panic; a blob that decodes
//! has one record per pixel and encodes back to a blob that decodes to the same records, bit for bit.
#![no_main]

use jingtu::temporal::state::TemporalState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let layout = TemporalState::layout_of(data);
    if let Some(state) = TemporalState::from_bytes(data) {
        assert!(
            matches!(layout, Some("JTS4 (seasonal model)") | Some("JTS3 (seasonal model, read and upgraded)")),
            "{layout:?}"
        );
        assert_eq!(state.pixels.len(), state.width * state.height);
        let bytes = state.to_bytes();
        let back = TemporalState::from_bytes(&bytes).expect("re-encoded state decodes");
        assert_eq!(back.to_bytes(), bytes);
    }
});

//! Saving a plot as PNG: a small button under each plot asks where (native dialog), then takes a screenshot
//! of the window, crops it to the plot and encodes it on a worker thread. The plot must stay where it was
//! while the dialog is open (it does: the dialog is modal to the user, not to the layout).

use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::jobs::Jobs;
use crossbeam_channel::{bounded, Receiver};
use eframe::egui::{self, ColorImage, Rect};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct PngExport {
    dialog: Option<(PendingDialog, Rect)>,
    shot: Option<(PathBuf, Rect, f32, Receiver<Arc<ColorImage>>)>,
    jobs: Jobs<Result<PathBuf, String>>,
    pub notice: Option<(String, bool)>,
}

impl Default for PngExport {
    fn default() -> Self {
        Self {
            dialog: None,
            shot: None,
            jobs: Jobs::spawn("png-export"),
            notice: None,
        }
    }
}

impl PngExport {
    /// A small "PNG" button for the plot drawn in `rect`.
    pub fn button(&mut self, ui: &mut egui::Ui, rect: Rect, name: &str) {
        let busy = self.dialog.is_some() || self.shot.is_some();
        let response = ui
            .horizontal(|ui| ui.add_enabled(!busy, egui::Button::new("Save PNG").small()))
            .inner
            .on_hover_text(format!("Save the {name} plot as a PNG image"));
        let label = format!("save {name} as PNG");
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, !busy, &label));
        if response.clicked() {
            let start = std::env::current_dir().unwrap_or_default();
            self.dialog = Some((PendingDialog::open(DialogPurpose::ExportPng, start), rect));
        }
    }

    /// Moves an export along: dialog answered → screenshot asked → image cropped and written by the worker.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some(answer) = self.dialog.as_ref().and_then(|(d, _)| d.poll()) {
            if let Some((dialog, rect)) = self.dialog.take() {
                match answer {
                    Some(path) => {
                        let (tx, rx) = bounded(1);
                        ctx.request_screenshot(move |image| {
                            let _ = tx.send(image);
                        });
                        self.shot = Some((path, rect, ctx.pixels_per_point(), rx));
                    }
                    None if dialog.closed_unseen() => self.notice = Some((NO_DIALOG_HINT.into(), false)),
                    None => {}
                }
            }
        }
        if let Some(image) = self.shot.as_ref().and_then(|(_, _, _, rx)| rx.try_recv().ok()) {
            if let Some((path, rect, ppp, _)) = self.shot.take() {
                self.jobs.submit(move || write_png(&path, &image, rect, ppp).map(|()| path));
            }
        }
        if self.shot.is_some() {
            ctx.request_repaint();
        }
        if let Some(done) = self.jobs.poll() {
            self.notice = Some(match done {
                Ok(p) => (format!("wrote {}", p.display()), true),
                Err(e) => (e, false),
            });
        }
    }
}

/// Crops `image` (physical pixels) to `rect` (points) and writes it as an 8-bit RGBA PNG.
pub fn write_png(path: &Path, image: &ColorImage, rect: Rect, pixels_per_point: f32) -> Result<(), String> {
    let [w, h] = image.size;
    let x0 = ((rect.min.x * pixels_per_point).floor().max(0.0) as usize).min(w);
    let y0 = ((rect.min.y * pixels_per_point).floor().max(0.0) as usize).min(h);
    let x1 = ((rect.max.x * pixels_per_point).ceil().max(0.0) as usize).min(w);
    let y1 = ((rect.max.y * pixels_per_point).ceil().max(0.0) as usize).min(h);
    if x1 <= x0 || y1 <= y0 {
        return Err("the plot was not on screen when the screenshot was taken".into());
    }
    let mut bytes = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for x in x0..x1 {
            bytes.extend_from_slice(&image.pixels[y * w + x].to_srgba_unmultiplied());
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, (x1 - x0) as u32, (y1 - y0) as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| format!("encoding PNG: {e}"))?;
        writer.write_image_data(&bytes).map_err(|e| format!("encoding PNG: {e}"))?;
    }
    crate::runs::write_atomic(path, &out).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_to_the_plot_and_writes_a_readable_png() {
        let mut image = ColorImage::filled([40, 30], egui::Color32::BLACK);
        image.pixels[10 * 40 + 20] = egui::Color32::RED;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.png");
        // 2 physical pixels per point: points (5,2)-(15,10) are pixels (10,4)-(30,20).
        let rect = Rect::from_min_max(egui::pos2(5.0, 2.0), egui::pos2(15.0, 10.0));
        write_png(&path, &image, rect, 2.0).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (20, 16));
        // The red pixel (20, 10) lands at (10, 6) of the crop.
        let i = (6 * 20 + 10) * 4;
        assert_eq!(&buf[i..i + 4], &[255, 0, 0, 255]);
        assert!(write_png(&path, &image, Rect::from_min_max(egui::pos2(100.0, 100.0), egui::pos2(120.0, 120.0)), 1.0).is_err());
    }
}

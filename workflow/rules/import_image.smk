rule import_image:
    """Step 0: one image of the stack as the other steps use it (one frame of a multi-frame file, information
    bar cut off, 8-bit grey PNG) and its record: pixel size from the config, the file's metadata or the burned-in
    scale bar and where it came from (the bar's reading, a warning when metadata and bar disagree), the crop and
    where it came from (crop_from: config, metadata, detected), and the burned-in scale bars and labels that psd
    leaves out (and outlines on the overlays). All but the pixels is the image's record in validated.json:
    validate_inputs read the file as this step would (one pass: the OCR of the scale bar and the annotation scan
    are not done twice); `crop` and `pixel_size_nm` are params so that changing them imports again."""
    input:
        source=image_file,
        validated=validation_gate,
    output:
        image="results/{stack}/images/{image}.png",
        calibration="results/{stack}/images/{image}.json",
    params:
        frame=image_frame,
        crop=lambda w: STACK_CONFIG[w.stack]["crop"],
        pixel_size_nm=lambda w: STACK_CONFIG[w.stack]["pixel_size_nm"],
    log:
        "logs/{stack}/import_image/{image}.log",
    conda:
        ENV
    script:
        "../scripts/import_image.py"

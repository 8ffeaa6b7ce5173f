rule validate_inputs:
    """Step 0: read and check every image of the stack before anything else (corrupt, truncated, constant,
    colour, NaN); one message names every bad file and nothing is written. validated.json says per image where
    its pixel size came from and what was cut off (an information bar: crop_from metadata or detected)."""
    input:
        stack_files,
    output:
        "results/{stack}/validated.json",
    params:
        folder=lambda w: STACK_CONFIG[w.stack]["images"],
        sources=lambda w: stack_sources(w.stack),
        crop=lambda w: STACK_CONFIG[w.stack]["crop"],
        pixel_size_nm=lambda w: STACK_CONFIG[w.stack]["pixel_size_nm"],
        trains=lambda w: model_stack(w.stack) == w.stack,
    log:
        "logs/{stack}/validate_inputs.log",
    conda:
        ENV
    script:
        "../scripts/validate_inputs.py"

"""The frameworks the validation plan is written against, and where each part is answered.

- FDA / Health Canada / MHRA, "Good Machine Learning Practice for Medical Device
  Development: Guiding Principles" (October 2021), adopted by IMDRF: ten principles.
- FDA, "Marketing Submission Recommendations for a Predetermined Change Control Plan for
  Artificial Intelligence-Enabled Device Software Functions" (final guidance, 2024): a PCCP
  has a description of modifications, a modification protocol and an impact assessment.
- Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019): nine headings.

Principles that a tool cannot evidence on its own (the clinical team's expertise, the
human-AI team) are mapped to what the plan leaves for the team to do, not claimed.
"""

from __future__ import annotations

SECTIONS: tuple[tuple[str, str], ...] = (
    ("intended-use", "1. Intended use"),
    ("algorithm", "2. Algorithm description"),
    ("training-data", "3. Training data"),
    ("validation-requirements", "4. Validation data requirements"),
    ("performance", "5. Performance"),
    ("reproducibility", "6. Reproducibility"),
    ("change-control", "7. Change control (Predetermined Change Control Plan)"),
)

# (number, principle, sections that answer it, what remains for the clinical team)
GMLP: tuple[tuple[int, str, tuple[int, ...], str], ...] = (
    (1, "Multi-disciplinary expertise is leveraged throughout the total product life cycle",
     (1, 7), "Clinicians must review the intended use and the acceptance criteria; the tool "
     "records them but cannot supply the expertise."),
    (2, "Good software engineering and security practices are implemented", (2, 6),
     "Versions, seeds, configuration and the commands run are recorded; no patient "
     "identifier reaches any output."),
    (3, "Clinical study participants and data sets are representative of the intended "
     "patient population", (3, 4), "The demographic analysis states who the data covers; "
     "whether that matches the intended population is the team's judgement."),
    (4, "Training data sets are independent of test sets", (3, 5),
     "Split by subject (no subject in two splits), balanced on age, sex and label."),
    (5, "Selected reference datasets are based upon best available methods", (3,),
     "The reference labels' provenance must be documented by whoever provides the data."),
    (6, "Model design is tailored to the available data and reflects the intended use of "
     "the device", (1, 2), "Operators selected from the input type and task; latency on "
     "the target device is part of the search objective."),
    (7, "Focus is placed on the performance of the human-AI team", (1, 5),
     "Not assessed here: the figures are standalone-algorithm performance. A reader study "
     "with the intended users is needed."),
    (8, "Testing demonstrates device performance during clinically relevant conditions",
     (4, 5), "Scored in the original image space with 95% CIs and per subgroup; the "
     "attribute ranges outside which performance is not established are stated."),
    (9, "Users are provided clear, essential information", (1, 4, 5),
     "This document, the model card and `mias predict`'s out-of-range warnings."),
    (10, "Deployed models are monitored for performance and re-training risks are managed",
     (7,), "The change-control plan fixes what a new model must meet before it replaces "
     "this one; monitoring in deployment is the operator's."),
)

# Model-card heading → the plan's sections that fill it.
MODEL_CARD: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("model_details", "Model details", (2, 6)),
    ("intended_use", "Intended use", (1,)),
    ("factors", "Factors", (3, 4)),
    ("metrics", "Metrics", (5,)),
    ("evaluation_data", "Evaluation data", (3, 5)),
    ("training_data", "Training data", (3,)),
    ("quantitative_analyses", "Quantitative analyses", (5,)),
    ("ethical_considerations", "Ethical considerations", (1, 3)),
    ("caveats_and_recommendations", "Caveats and recommendations", (4, 7)),
)

PCCP_PARTS = ("Description of modifications", "Modification protocol", "Impact assessment")

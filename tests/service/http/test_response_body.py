import json

import numpy as np
import pandas as pd

from service.http.response_body import json_response, prediction_body, prediction_csv

LABELS = np.array(["setosa", "virginica"], dtype=object)
PROBABILITIES = np.array([[0.9, 0.1], [0.25, 0.75]], dtype=np.float32)
CLASSES = ["setosa", "virginica"]


def test_prediction_body_pairs_each_probability_with_its_class():
    body = prediction_body("iris:abc", LABELS, PROBABILITIES, CLASSES)
    assert body["model"] == "iris:abc"
    assert body["predictions"] == ["setosa", "virginica"]
    assert body["probabilities"][1] == {"setosa": 0.25, "virginica": 0.75}


def test_integer_labels_stay_integers_in_json():
    body = prediction_body("m:1", np.array([0, 1]), PROBABILITIES, ["0", "1"])
    response = json_response(body)
    assert response.media_type == "application/json"
    assert json.loads(response.body)["predictions"] == [0, 1]


def test_prediction_csv_keeps_input_columns_and_adds_one_per_class():
    frame = pd.DataFrame({"id": [7, 8], "x": [1.5, None]})
    lines = prediction_csv(frame, LABELS, PROBABILITIES, CLASSES).splitlines()
    assert lines[0] == "id,x,prediction,probability_setosa,probability_virginica"
    assert lines[2].startswith("8,,virginica,0.25,0.75")

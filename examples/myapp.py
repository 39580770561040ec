from neutrino import App

app = App()

@app.route("/add")
def add(x: int, y: int):
    return {"result": x + y}

@app.route("/process", methods=["POST"])
def process(data: dict):
    return {"processed": data}
